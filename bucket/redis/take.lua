-- mcp-ratelimit take: all-or-nothing GCRA over several buckets, in one
-- atomic script run (Redis runs a script without interleaving another
-- command). The arithmetic is that of package bucket (gcra.go); this
-- script only compares and adds spans, the caller works out costs and
-- derives the decision from the debts returned (bucket.PlanRemote,
-- bucket.DecideRemote).
--
-- Redis Lua numbers are IEEE doubles, exact for integers below 2^53. So
-- every instant and span is three numbers, each far below 2^53:
-- seconds, nanoseconds within the second (< 1e9), and a fraction of a
-- nanosecond in units of 1/maxTokens (< maxTokens <= 1e9). Nanoseconds in
-- one number (about 1.8e18 today) would not be exact. Bounds: seconds of
-- an instant < 2^34 (until the year 2514); of a span <= 3.2e7 (a debt
-- never exceeds refillPeriod <= 365 days, plus one cost of at most as
-- much); every sum below adds two such numbers and a carry, and the
-- expiry in milliseconds is < 7e10: all exact. The caller checks every
-- number of the reply again (webdis.go, debtsOf).
--
-- KEYS[i]   bucket i, value "<tatSec>:<tatNsec>:<tatFrac>" (the instant the
--           bucket is full again); absent means full.
-- ARGV[1]   expiry margin in milliseconds, added to the time until full.
-- ARGV[2+6(i-1) ...] of bucket i: maxTokens, cost seconds, cost
--           nanoseconds, cost fraction, capacity seconds, capacity
--           nanoseconds (the capacity is refillPeriod, a whole number of
--           nanoseconds).
-- Reply: {allowed (1 or 0), then per bucket its debt before the take:
--         seconds, nanoseconds, fraction}.
-- Nothing is written unless every bucket admits.
--
-- The production tail (script.go) runs take's extension decide, or
-- renew or release, as its first argument says.

local NS = 1000000000

-- debt returns max(TAT - now, 0) of a stored value; a missing or
-- malformed value is a full bucket (debt 0).
local function debt(value, m, nowS, nowN)
  if not value then return 0, 0, 0 end
  local s, n, f = string.match(value, '^(%d+):(%d+):(%d+)$')
  if not s then return 0, 0, 0 end
  s, n, f = tonumber(s), tonumber(n), tonumber(f)
  if n >= NS or f >= m then return 0, 0, 0 end
  if s < nowS or (s == nowS and n < nowN) then return 0, 0, 0 end
  local ds, dn = s - nowS, n - nowN
  if dn < 0 then dn = dn + NS; ds = ds - 1 end
  return ds, dn, f
end

-- checkBuckets reads every bucket at now = nowS seconds + nowN
-- nanoseconds (argv as documented above) and returns the reply {allowed,
-- debts...} and each bucket's debt after the take; it writes nothing.
local function checkBuckets(keys, argv, nowS, nowN)
  local reply = {1}
  local after = {}
  for i = 1, #keys do
    local a = 2 + 6 * (i - 1)
    local m = tonumber(argv[a])
    local cs, cn, cf = tonumber(argv[a + 1]), tonumber(argv[a + 2]), tonumber(argv[a + 3])
    local ps, pn = tonumber(argv[a + 4]), tonumber(argv[a + 5])
    local ds, dn, df = debt(redis.call('GET', keys[i]), m, nowS, nowN)
    reply[#reply + 1] = ds
    reply[#reply + 1] = dn
    reply[#reply + 1] = df
    -- after = debt + cost, carrying fraction into nanoseconds into seconds.
    local f, n, s = df + cf, dn + cn, ds + cs
    if f >= m then f = f - m; n = n + 1 end
    if n >= NS then n = n - NS; s = s + 1 end
    -- Admitted iff after <= capacity.
    if s > ps or (s == ps and (n > pn or (n == pn and f > 0))) then
      reply[1] = 0
    end
    after[i] = {s, n, f}
  end
  return reply, after
end

-- writeBuckets stores the debts after an admitted take.
local function writeBuckets(keys, argv, after, nowS, nowN)
  local margin = tonumber(argv[1])
  for i = 1, #keys do
    local s, n, f = after[i][1], after[i][2], after[i][3]
    local ts, tn = nowS + s, nowN + n
    if tn >= NS then tn = tn - NS; ts = ts + 1 end
    -- Expire when the bucket is full again (an absent key is a full
    -- bucket), plus the margin: milliseconds rounded up.
    local ms = s * 1000 + math.floor(n / 1000000)
    if n % 1000000 > 0 or f > 0 then ms = ms + 1 end
    redis.call('SET', keys[i], string.format('%d:%d:%d', ts, tn, f), 'PX', ms + margin)
  end
end

-- take runs a take of buckets only at now = nowS seconds + nowN
-- nanoseconds; argv holds ARGV as documented above.
local function take(keys, argv, nowS, nowN)
  local reply, after = checkBuckets(keys, argv, nowS, nowN)
  if reply[1] == 1 then writeBuckets(keys, argv, after, nowS, nowN) end
  return reply
end

-- Calendar quotas and concurrency caps, decided with the buckets in one
-- run (decide). Instants here are Unix milliseconds (about 1.8e12 today,
-- below 2^53 for 285,000 years); counts and calls stay below 2^31.
--
-- A quota key holds "<startMs>:<endMs>:<count>": the window counted and
-- the calls counted in it. The caller computes its window from its own
-- clock; a stored window older than the caller's is over (the count
-- starts again at 0), a stored window newer than the caller's is the one
-- counted in if it is the next one (another proxy's clock already crossed
-- the boundary: windows only move forward); one further ahead (a clock far
-- off) is not followed but replaced. The key expires at its window's end
-- plus a margin.
--
-- A cap key is a sorted set of leases: member "<leaseId>:<calls>", score
-- the lease's expiry in milliseconds of Redis's clock. A member whose
-- score is <= now has expired.

-- quotaCount returns the window counted in and its count for a caller
-- whose window is [start, end).
local function quotaCount(value, start, finish)
  if value then
    local s, e, c = string.match(value, '^(%d+):(%d+):(%d+)$')
    if s then
      s, e, c = tonumber(s), tonumber(e), tonumber(c)
      if s == start then return s, finish, c end
      if s > start and s <= finish then return s, e, c end
    end
  end
  return start, finish, 0
end

-- liveCalls sums the calls of the leases of a cap not expired at nowMs.
local function liveCalls(key, nowMs)
  local total = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. nowMs, '+inf')) do
    local calls = string.match(member, ':(%d+)$')
    if calls then total = total + tonumber(calls) end
  end
  return total
end

-- decide takes quotas, caps and buckets together, all or nothing.
-- KEYS: nq quota keys, nc cap keys, then the bucket keys.
-- argv[1..5]: nq, nc, lease TTL in ms, lease id, quota expiry margin in ms;
-- then per quota: calls, maxCalls, window start ms, window end ms; per
-- cap: calls, max; then the buckets' arguments as take's argv.
-- Reply: {allowed (1 or 0), per quota: its count before the take and the
-- end (ms) of the window counted in, per cap: the live calls before the
-- take, then per bucket its debt as take's reply}.
local function decide(keys, argv, nowS, nowN)
  local nq, nc = tonumber(argv[1]), tonumber(argv[2])
  local ttl, id, qmargin = tonumber(argv[3]), argv[4], tonumber(argv[5])
  local nowMs = nowS * 1000 + math.floor(nowN / 1000000)
  local reply = {1}
  local quotas, caps = {}, {}
  local a = 6
  for i = 1, nq do
    local calls, maxCalls = tonumber(argv[a]), tonumber(argv[a + 1])
    local s, e, c = quotaCount(redis.call('GET', keys[i]), tonumber(argv[a + 2]), tonumber(argv[a + 3]))
    if c + calls > maxCalls then reply[1] = 0 end
    reply[#reply + 1] = c
    reply[#reply + 1] = e
    quotas[i] = {s, e, c + calls}
    a = a + 4
  end
  for i = 1, nc do
    local calls, max = tonumber(argv[a]), tonumber(argv[a + 1])
    local live = liveCalls(keys[nq + i], nowMs)
    if live + calls > max then reply[1] = 0 end
    reply[#reply + 1] = live
    caps[i] = calls
    a = a + 2
  end
  local bkeys, bargv = {}, {}
  for i = nq + nc + 1, #keys do bkeys[#bkeys + 1] = keys[i] end
  for i = a, #argv do bargv[#bargv + 1] = argv[i] end
  local breply, after = checkBuckets(bkeys, bargv, nowS, nowN)
  if breply[1] == 0 then reply[1] = 0 end
  for i = 2, #breply do reply[#reply + 1] = breply[i] end
  if reply[1] == 0 then return reply end
  for i = 1, nq do
    local q = quotas[i]
    redis.call('SET', keys[i], string.format('%d:%d:%d', q[1], q[2], q[3]))
    redis.call('PEXPIREAT', keys[i], q[2] + qmargin)
  end
  for i = 1, nc do
    local key = keys[nq + i]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', nowMs)
    redis.call('ZADD', key, nowMs + ttl, id .. ':' .. caps[i])
    redis.call('PEXPIRE', key, ttl + qmargin)
  end
  writeBuckets(bkeys, bargv, after, nowS, nowN)
  return reply
end

-- renew moves the expiry of leases still held to now + TTL: argv[1] the
-- TTL in ms, argv[2] the key expiry margin in ms, argv[2 + i] the member
-- of KEYS[i]. A lease already dropped (expired) is not added back. Reply:
-- {leases renewed}.
local function renew(keys, argv, nowS, nowN)
  local ttl, margin = tonumber(argv[1]), tonumber(argv[2])
  local nowMs = nowS * 1000 + math.floor(nowN / 1000000)
  local renewed = 0
  for i = 1, #keys do
    local score = redis.call('ZSCORE', keys[i], argv[2 + i])
    if score and tonumber(score) > nowMs then
      redis.call('ZADD', keys[i], 'XX', nowMs + ttl, argv[2 + i])
      redis.call('PEXPIRE', keys[i], ttl + margin)
      renewed = renewed + 1
    end
  end
  return {renewed}
end

-- release removes leases: argv[i] is the member of KEYS[i]. Reply:
-- {leases removed}.
local function release(keys, argv)
  local removed = 0
  for i = 1, #keys do
    removed = removed + redis.call('ZREM', keys[i], argv[i])
  end
  return {removed}
end
