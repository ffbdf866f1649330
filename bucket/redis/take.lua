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

-- take runs the take at now = nowS seconds + nowN nanoseconds; argv holds
-- ARGV as documented above.
local function take(keys, argv, nowS, nowN)
  local margin = tonumber(argv[1])
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
  if reply[1] == 0 then return reply end
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
  return reply
end
