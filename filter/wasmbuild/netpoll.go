package wasmbuild

import (
	"bytes"
	"fmt"
)

// NetpollFile is the Go runtime file the runtime patch replaces, relative
// to $(go env GOROOT)/src.
const NetpollFile = "runtime/netpoll_wasip1.go"

// netpollConstAnchor is the line of runtime/netpoll_wasip1.go after which
// the patch declares the ENOSYS errno (the runtime has no name for it on
// wasip1).
const netpollConstAnchor = "const _EINTR = 27\n"

// netpollConstAddition declares WASI's ENOSYS (errno 52 in the WASI preview1
// errno enum, WebAssembly/WASI legacy/preview1/docs.md).
const netpollConstAddition = `
// netpollENOSYS is WASI preview1's errno "function not supported"; added by
// the mcp-ratelimit-wasm build (see filter/wasmbuild/README.md).
const netpollENOSYS = 52
`

// netpollCallAnchor is the code the patch changes: the poll_oneoff call in
// netpoll and its error handling, which throws on every errno but EINTR.
// It must occur exactly once, byte for byte, or the patch refuses to apply:
// a different runtime needs a person to look at it, not a guess.
const netpollCallAnchor = `retry:
	var nevents size
	errno := poll_oneoff(&pollsubs[0], &evts[0], uint32(len(pollsubs)), &nevents)
	if errno != 0 {
		if errno != _EINTR {
			println("errno=", errno, " len(pollsubs)=", len(pollsubs))
			throw("poll_oneoff failed")
		}
		// If a timed sleep was interrupted, just return to
		// recalculate how long we should sleep now.
		if delay > 0 {
			unlock(&mtx)
			return gList{}, 0
		}
		goto retry
	}
`

// netpollCallReplacement is netpollCallAnchor with two additions, each of
// which returns an empty list at once instead of looping or throwing:
//
//  1. A zero-timeout poll whose only subscription is the timeout clock
//     cannot report any event (netpoll skips clock events), so the host is
//     not asked. The runtime makes that call at every GC start
//     (startTheWorldWithSema), also when a GC starts inside
//     proxy_on_memory_allocate, where Envoy 1.33-1.38 allow only proxy_log,
//     fd_write and clock_time_get (proxy-wasm-cpp-host src/wasm.cc before
//     PR #533).
//  2. poll_oneoff answering ENOSYS (Envoy 1.33-1.38, proxy-wasm-cpp-host
//     before PR #533) is treated as "no events", which is what Envoy 1.39+
//     answers (success with zero events). Retrying would spin forever.
const netpollCallReplacement = `	// mcp-ratelimit-wasm patch 1/2: nothing but the timeout to poll for
	// and no time to wait: there can be no event, so do not ask the host.
	if delay == 0 && len(pollsubs) == 1 {
		unlock(&mtx)
		return gList{}, 0
	}

retry:
	var nevents size
	errno := poll_oneoff(&pollsubs[0], &evts[0], uint32(len(pollsubs)), &nevents)
	// mcp-ratelimit-wasm patch 2/2: a host without poll_oneoff (ENOSYS)
	// has no events to report; return at once instead of throwing.
	if errno == netpollENOSYS {
		unlock(&mtx)
		return gList{}, 0
	}
	if errno != 0 {
		if errno != _EINTR {
			println("errno=", errno, " len(pollsubs)=", len(pollsubs))
			throw("poll_oneoff failed")
		}
		// If a timed sleep was interrupted, just return to
		// recalculate how long we should sleep now.
		if delay > 0 {
			unlock(&mtx)
			return gList{}, 0
		}
		goto retry
	}
`

// PatchNetpoll returns src, the text of runtime/netpoll_wasip1.go of Go
// goVersion (used only in error messages), with the patch applied. It fails
// unless each piece of code it changes occurs exactly once, byte for byte.
func PatchNetpoll(src []byte, goVersion string) ([]byte, error) {
	if err := requireOnce(src, netpollConstAnchor, goVersion); err != nil {
		return nil, err
	}
	if err := requireOnce(src, netpollCallAnchor, goVersion); err != nil {
		return nil, err
	}
	if bytes.Contains(src, []byte("netpollENOSYS")) {
		return nil, fmt.Errorf("%s of %s already mentions netpollENOSYS: is it patched already?", NetpollFile, goVersion)
	}
	out := bytes.Replace(src, []byte(netpollConstAnchor), []byte(netpollConstAnchor+netpollConstAddition), 1)
	out = bytes.Replace(out, []byte(netpollCallAnchor), []byte(netpollCallReplacement), 1)
	return out, nil
}

// requireOnce fails unless anchor occurs in src exactly once.
func requireOnce(src []byte, anchor, goVersion string) error {
	switch n := bytes.Count(src, []byte(anchor)); n {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("runtime patch does not apply: %s of %s does not contain the expected code:\n%s"+
			"update filter/wasmbuild/netpoll.go for this Go version (see filter/wasmbuild/README.md)",
			NetpollFile, goVersion, indent(anchor))
	default:
		return fmt.Errorf("runtime patch does not apply: %s of %s contains the expected code %d times, want once:\n%s",
			NetpollFile, goVersion, n, indent(anchor))
	}
}

// indent prefixes every line of s with a tab, for error messages.
func indent(s string) string {
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter([]byte(s), []byte("\n")) {
		if len(line) > 0 {
			b.WriteString("\t")
			b.Write(line)
		}
	}
	return b.String()
}
