-- Sets a queue's status; 0 when the queue does not exist.
-- KEYS: meta
-- ARGV: status
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
