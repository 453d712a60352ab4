-- Takes (or renews) the admission lease of a queue.
-- KEYS: meta, lease
-- ARGV: owner, lease_ms
-- Returns the fencing token (>= 1) when the caller holds the lease, 0 when
-- another server does, -1 when the queue does not exist. Each new holder
-- gets a larger token; admissions carry it, so a holder that stalled past
-- its lease can no longer write.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'fence'))
end
if holder then
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'fence', 1)
