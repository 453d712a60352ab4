-- Deletes every key of a queue; 0 when the queue does not exist.
-- KEYS: meta, line, users (bucket base), users_overflow, left, active, adm, lease
-- UNLINK: the big line and buckets are freed in Redis's background thread.
local buckets = redis.call('HGET', KEYS[1], 'buckets')
if not buckets then
  return 0
end
for b = 0, tonumber(buckets) - 1 do
  redis.call('UNLINK', KEYS[3] .. ':' .. b)
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
return 1
