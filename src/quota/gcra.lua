-- livebatch shared quota: a reservation GCRA with a shared AIMD rate, run atomically in Redis.
-- Its arithmetic is mirrored line by line in src/quota/model.rs (checked against this script).
--
-- KEYS[1]  the schedule:  livebatch:{ACCOUNT}:OPERATION          (hash)
-- KEYS[2]  the runners:   livebatch:{ACCOUNT}:OPERATION:runners  (hash: id -> record)
-- ARGV[1]  mode: reserve | throttle | leave | status
-- ARGV[2]  runner id
-- ARGV[3]  cap, milli-calls/s (97 % of the quota)      ARGV[4]  floor, milli-calls/s
-- ARGV[5]  recovery, milli-calls/s per second          ARGV[6]  cooldown, microseconds
-- ARGV[7]  decrease factor, per mille (700)            ARGV[8]  runner lease, microseconds
--
-- All times are integer microseconds of Redis's own clock (TIME), so every runner books on one
-- clock. Every number stays below 2^53, where Lua's doubles are exact integers.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mode, id = ARGV[1], ARGV[2]
local cap, floor = tonumber(ARGV[3]), tonumber(ARGV[4])
local inc, cooldown = tonumber(ARGV[5]), tonumber(ARGV[6])
local factor, lease = tonumber(ARGV[7]), tonumber(ARGV[8])

local KEEP_MS = 86400000      -- idle keys expire after a day
local MAX_AHEAD = 300000000   -- a schedule further ahead than 300 s means Redis's clock went back
local MAX_ELAPSED = 1000000000 -- recovery looks back at most 1000 s (the ramp takes ~20 s)
local WINDOW = 5000000        -- a runner's recent rate is measured over 5-s windows
local GC_EVERY = 5000000      -- expired runners are dropped every 5 s

local function int(v) return string.format('%.0f', v) end

local function rate_at(base, since)
  local elapsed = now - since
  if elapsed < 0 then elapsed = 0 end
  if elapsed > MAX_ELAPSED then elapsed = MAX_ELAPSED end
  local r = base + math.floor(elapsed * inc / 1000000)
  if r > cap then r = cap end
  if r < floor then r = floor end
  return r
end

local function interval(r)
  return math.floor((1000000000 + r - 1) / r)
end

local s = redis.call('HMGET', KEYS[1], 'tat', 'base', 'since', 'lastdec', 'thr', 'gc')
local tat, base, since = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
local lastdec, thr, gc = tonumber(s[4]), tonumber(s[5]) or 0, tonumber(s[6]) or 0
if base == nil or since == nil then base = cap; since = now end

local function parse(rec)
  if not rec then return nil end
  local l, ws, wn, rr, tot = string.match(rec, '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
  if not l then return nil end
  return tonumber(l), tonumber(ws), tonumber(wn), tonumber(rr), tonumber(tot)
end

if mode == 'reserve' then
  local r = rate_at(base, since)
  local iv = interval(r)
  if tat == nil or tat > now + MAX_AHEAD then tat = now end
  local slot = tat
  if slot < now then slot = now end
  redis.call('HSET', KEYS[1], 'tat', int(slot + iv), 'base', int(base), 'since', int(since))
  redis.call('PEXPIRE', KEYS[1], KEEP_MS)
  -- The runner's lease and recent rate.
  local l, ws, wn, rr, tot = parse(redis.call('HGET', KEYS[2], id))
  if not l then ws = now; wn = 0; rr = 0; tot = 0 end
  if now - ws >= WINDOW then
    rr = math.floor(wn * 1000000000 / (now - ws)); ws = now; wn = 0
  end
  wn = wn + 1; tot = tot + 1
  redis.call('HSET', KEYS[2], id,
    int(now + lease) .. ' ' .. int(ws) .. ' ' .. int(wn) .. ' ' .. int(rr) .. ' ' .. int(tot))
  if now >= gc then
    local all = redis.call('HGETALL', KEYS[2])
    for i = 1, #all, 2 do
      local el = parse(all[i + 1])
      if el == nil or el < now then redis.call('HDEL', KEYS[2], all[i]) end
    end
    redis.call('HSET', KEYS[1], 'gc', int(now + GC_EVERY))
  end
  redis.call('PEXPIRE', KEYS[2], KEEP_MS)
  return {now, slot - now, iv, r, redis.call('HLEN', KEYS[2])}
elseif mode == 'throttle' then
  local r = rate_at(base, since)
  if lastdec ~= nil and now - lastdec < cooldown and now >= lastdec then
    return {now, 0, interval(r), r, thr}
  end
  local nb = math.floor(r * factor / 1000)
  if nb < floor then nb = floor end
  if nb > cap then nb = cap end
  thr = thr + 1
  redis.call('HSET', KEYS[1], 'base', int(nb), 'since', int(now), 'lastdec', int(now), 'thr', int(thr))
  redis.call('PEXPIRE', KEYS[1], KEEP_MS)
  return {now, 1, interval(nb), nb, thr}
elseif mode == 'leave' then
  redis.call('HDEL', KEYS[2], id)
  return {now}
elseif mode == 'status' then
  local r = rate_at(base, since)
  local ahead = 0
  if tat ~= nil and tat > now then ahead = tat - now end
  local out = {now, interval(r), r, ahead, thr}
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local l, ws, wn, rr, tot = parse(all[i + 1])
    if l ~= nil and l >= now then
      -- A window longer than one period (an idle runner), or a first one, is its own estimate.
      if (now - ws >= WINDOW or rr == 0) and now > ws then
        rr = math.floor(wn * 1000000000 / (now - ws))
      end
      table.insert(out, all[i]); table.insert(out, l - now)
      table.insert(out, rr); table.insert(out, tot)
    end
  end
  return out
end
return redis.error_reply('livebatch quota script: unknown mode ' .. tostring(mode))
