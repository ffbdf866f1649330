package redis

import _ "embed"

// takeBody is the script's functions (take.lua); a tail calls them.
//
//go:embed take.lua
var takeBody string

// scriptTail runs at Redis's own clock (TIME), so that the proxies'
// clocks never matter for buckets and leases: ARGV[1] names the operation
// (opDecide, opRenew, opRelease), the rest are its arguments. Redis 7
// replicates a script by its effects, which allows writes after TIME;
// older servers need redis.replicate_commands() for that.
const scriptTail = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local nowS, nowN = tonumber(t[1]), tonumber(t[2]) * 1000
local argv = {}
for i = 2, #ARGV do argv[#argv + 1] = ARGV[i] end
if ARGV[1] == 'renew' then return renew(KEYS, argv, nowS, nowN) end
if ARGV[1] == 'release' then return release(KEYS, argv) end
return decide(KEYS, argv, nowS, nowN)
`

// Operations of the script (its first argument).
const (
	opDecide  = "decide"
	opRenew   = "renew"
	opRelease = "release"
)

// Script is the Lua script the limiter runs.
var Script = takeBody + scriptTail

// ScriptSHA1 is Script's SHA-1 in hex, the name EVALSHA calls it by. It is
// written out rather than computed so that the module does not link
// crypto/sha1 for one constant; TestScriptSHA1 checks it (and prints the
// new value after a change of the script).
const ScriptSHA1 = "6df4224330ec7af53f167ec537b5906d6e5fe71f"
