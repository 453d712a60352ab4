-- Moves the announced cursor forward to a batch whose events the bus has
-- delivered. Not fenced: a former lease holder's delivered batches are
-- delivered all the same. The cursor never moves back.
-- KEYS: meta
-- ARGV: epoch, batch
-- Returns 1 when the cursor moved.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'announced') or 0) then
  redis.call('HSET', KEYS[1], 'announced', ARGV[2])
  return 1
end
return 0
