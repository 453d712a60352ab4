-- Deletes every key of a queue; 0 when the queue does not exist.
-- KEYS: meta, line, users, users_overflow, left, active, adm, lease
-- UNLINK: the big line and user index are freed in Redis's background thread.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('UNLINK', unpack(KEYS))
return 1
