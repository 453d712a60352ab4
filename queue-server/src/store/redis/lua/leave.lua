-- An entry leaves the line or ends its session.
-- KEYS: meta, line, left, active
-- ARGV: seq
-- Returns 'nf' (no queue), 'none' (no such entry), 'ended' (already over),
-- 'waiting' or 'active' (what it left).
local frontier = redis.call('HGET', KEYS[1], 'frontier')
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
if redis.call('ZREM', KEYS[4], ARGV[1]) == 1 then
  kind = 1
elseif seq > tonumber(frontier) then
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
