-- One admission step, run by the lease holder: open a scheduled sale whose
-- time has come, expire sessions that ran out, then admit up to `budget`
-- entries in line order, skipping those that left. The budget comes from
-- the holder's pacer (the model's rules); maxActive and the end of the
-- line are re-checked here, atomically.
-- Line order is by place: a seq is its own place, except in a drawn
-- pre-queue (the first `drawn` places), whose seqs the order key lists. The
-- frontier and the batches of the log count places.
-- KEYS: meta, line, left, active, adm, lease, order
-- ARGV: owner, fence, now_ms, budget, lease_ms
-- Returns {-1} when the caller no longer holds the lease, else
-- {1, from, to, active, adm_count, expires_ms, admitted_seqs, admitted_users,
--  expired_seqs, block_to_draw (0: none)}.
if redis.call('GET', KEYS[6]) ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return {-1}
end
redis.call('PEXPIRE', KEYS[6], ARGV[5])
local now = tonumber(ARGV[3])

local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
if #expired > 0 then
  redis.call('ZREM', KEYS[4], unpack(expired))
end

local m = redis.call('HMGET', KEYS[1], 'status', 'max_active', 'ttl', 'frontier', 'adm_count',
  'sched', 'prequeue', 'opens_at', 'block', 'drawn')
if m[6] == 'pending' then
  local time = redis.call('TIME')
  if tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) >= tonumber(m[8]) then
    if m[7] == '1' then
      m[6], m[9] = 'sealed', redis.call('LLEN', KEYS[2])
      redis.call('HSET', KEYS[1], 'sched', 'sealed', 'block', m[9])
    else
      m[6] = false
      redis.call('HDEL', KEYS[1], 'sched')
      if m[1] == 'paused' then
        m[1] = 'open'
        redis.call('HSET', KEYS[1], 'status', 'open')
      end
    end
  end
end
local to_draw = 0
if m[6] == 'sealed' then
  to_draw = tonumber(m[9])
end
local budget = tonumber(ARGV[4])
-- A pre-queue admits nobody before its draw, whatever the status says.
if m[1] ~= 'open' or m[6] == 'sealed' or (m[6] == 'pending' and m[7] == '1') then
  budget = 0
end
local drawn = tonumber(m[10] or 0)
local room = tonumber(m[2]) - redis.call('ZCARD', KEYS[4])
if budget > room then
  budget = room
end
local from = tonumber(m[4])
local frontier = from
local len = redis.call('LLEN', KEYS[2])
local expires = now + tonumber(m[3]) * 1000
local admitted, skipped, zargs, seqs = 0, 0, {}, {}
while admitted < budget and frontier < len do
  frontier = frontier + 1
  local seq = seq_at(KEYS[7], drawn, frontier)
  if redis.call('ZSCORE', KEYS[3], seq) then
    skipped = skipped + 1
  else
    admitted = admitted + 1
    seqs[admitted] = seq
    zargs[#zargs + 1] = expires
    zargs[#zargs + 1] = seq
  end
end

local adm_count = tonumber(m[5])
local users = {}
if frontier > from then
  redis.call('HSET', KEYS[1], 'frontier', frontier)
  if skipped > 0 then
    redis.call('HINCRBY', KEYS[1], 'left_ahead', -skipped)
  end
  if admitted > 0 then
    redis.call('ZADD', KEYS[4], unpack(zargs))
    redis.call('HINCRBY', KEYS[1], 'admitted_total', admitted)
    redis.call('RPUSH', KEYS[5], from .. ':' .. frontier .. ':' .. ARGV[3] .. ':' .. expires .. ':' .. admitted)
    adm_count = redis.call('HINCRBY', KEYS[1], 'adm_count', 1)
  end
  if admitted > 0 and from < drawn then
    for i = 1, admitted do
      users[i] = redis.call('LINDEX', KEYS[2], seqs[i] - 1)
    end
  elseif admitted > 0 then
    local line = redis.call('LRANGE', KEYS[2], from, frontier - 1)
    for i = 1, admitted do
      users[i] = line[seqs[i] - from]
    end
  end
end

-- Batches whose sessions ended over a minute ago are of no use to readers
-- (their entries read as expired); dropping them bounds the log.
local trimmed = 0
while trimmed < 100 do
  local batch = redis.call('LINDEX', KEYS[5], 0)
  if not batch then
    break
  end
  local batch_expires = tonumber(string.match(batch, '^%d+:%d+:%d+:(%d+)'))
  if batch_expires > now - 60000 then
    break
  end
  redis.call('LPOP', KEYS[5])
  trimmed = trimmed + 1
end
if trimmed > 0 then
  redis.call('HINCRBY', KEYS[1], 'adm_trimmed', trimmed)
end

return {1, from, frontier, redis.call('ZCARD', KEYS[4]), adm_count, expires, seqs, users, expired,
  to_draw}
