package redis

import (
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
)

// takeBody is the script's functions (take.lua); a tail calls them.
//
//go:embed take.lua
var takeBody string

// scriptTail runs the take at Redis's own clock (TIME), so that the
// proxies' clocks never matter. Redis 7 replicates a script by its effects,
// which allows writes after TIME; older servers need
// redis.replicate_commands() for that.
const scriptTail = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
return take(KEYS, ARGV, tonumber(t[1]), tonumber(t[2]) * 1000)
`

// Script is the Lua script the limiter runs, and ScriptSHA1 its SHA-1 in
// hex, the name EVALSHA calls it by.
var (
	Script     = takeBody + scriptTail
	ScriptSHA1 = sha1Hex(Script)
)

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
