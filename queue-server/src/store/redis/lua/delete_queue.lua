-- Deletes every key of a queue; 0 when the queue does not exist.
-- KEYS: meta, line, users, users_overflow, left, active, adm, lease, order, places
-- UNLINK: the big line and user index are freed in Redis's background thread.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
-- A queue of the first layout also has user-index buckets `<users>:<n>`
-- (the base name was `...:u`, so KEYS[3] is rewritten for them).
local buckets = redis.call('HGET', KEYS[1], 'buckets')
if buckets then
  local base = string.gsub(KEYS[3], ':users$', ':u')
  for b = 0, tonumber(buckets) - 1 do
    redis.call('UNLINK', base .. ':' .. b)
  end
end
redis.call('UNLINK', unpack(KEYS))
return 1
