-- An entry leaves the line or ends its session.
-- KEYS: meta, line, left, active, places
-- ARGV: seq
-- The frontier counts places: a seq of a drawn pre-queue is compared by the
-- place the draw gave it.
-- Returns 'nf' (no queue), 'none' (no such entry), 'ended' (already over),
-- 'waiting' or 'active' (what it left).
local meta = redis.call('HMGET', KEYS[1], 'frontier', 'drawn')
local frontier = meta[1]
if not frontier then
  return 'nf'
end
local seq = tonumber(ARGV[1])
if not seq or seq < 1 or seq > redis.call('LLEN', KEYS[2]) then
  return 'none'
end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return 'ended'
end
local kind
local place = seq
if seq <= tonumber(meta[2] or 0) then
  place = struct.unpack('>I4', redis.call('GETRANGE', KEYS[5], (seq - 1) * 4, seq * 4 - 1))
end
if redis.call('ZREM', KEYS[4], ARGV[1]) == 1 then
  kind = 1
elseif place > tonumber(frontier) then
  kind = 0
  redis.call('HINCRBY', KEYS[1], 'left_ahead', 1)
else
  -- Admitted before and already expired.
  return 'ended'
end
local n = redis.call('HINCRBY', KEYS[1], 'leave_count', 1)
redis.call('ZADD', KEYS[3], n * 2 + kind, ARGV[1])
if kind == 1 then
  return 'active'
end
return 'waiting'
