//go:build higress && !wasip1

package filter

// Outside a Wasm VM there is no Higress host: every call fails, and the
// failure mode decides.

func redisInit(string, string, string, uint32) uint32 { return 0 }

func redisCall(string, []byte) (uint32, uint32) { return 0, 1 }
