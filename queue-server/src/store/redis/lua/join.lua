-- Group commit: joins a whole batch of users in one round trip.
-- KEYS: meta, line, users (bucket base name), users_overflow
-- ARGV: userId, fingerprint, bucket_hash, userId, fingerprint, ... (see
--       `keys::user_slot`: an 8-byte binary field and a u32 for the bucket)
-- Returns {epoch, r1, r2, ...} where r > 0 is a new entry's seq, r < 0 the
-- negated seq of the entry the user already had, and 0 a refusal (closed);
-- or {} when the queue does not exist.
--
-- The user index: a userId's fingerprint names a bucket (the key
-- `<users>:<n>`, a small hash Redis keeps as a compact listpack) and an
-- 8-byte binary field in it holding the seq. A hit is confirmed against the line
-- itself, so a fingerprint collision can never merge two users: the second
-- one goes to the overflow hash, keyed by the full userId. Bucket keys carry
-- the queue's hash tag, so they live in the queue's Cluster slot.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'buckets')
if not meta[1] then
  return {}
end
local closed = meta[2] == 'closed'
local buckets = tonumber(meta[3])
local len = redis.call('LLEN', KEYS[2])
local out = {meta[1]}
local push, fresh = {}, {}
-- The overflow hash is almost always absent: skip its lookups then.
local overflow = redis.call('EXISTS', KEYS[4]) == 1

-- The seq a user already has, given the bucket field's value (or nil).
local function existing(user, found)
  if found and redis.call('LINDEX', KEYS[2], tonumber(found) - 1) == user then
    return tonumber(found)
  end
  if overflow then
    return tonumber(redis.call('HGET', KEYS[4], user))
  end
  return nil
end

for i = 1, #ARGV, 3 do
  local user = ARGV[i]
  local bucket = KEYS[3] .. ':' .. (tonumber(ARGV[i + 2]) % buckets)
  local field = ARGV[i + 1]
  local seq = fresh[user]
  if not seq and closed then
    seq = existing(user, redis.call('HGET', bucket, field))
  elseif not seq then
    -- The common case in a rush is a new user: claim the slot first, one
    -- call, and look further only if it was taken.
    if redis.call('HSETNX', bucket, field, len + 1) == 0 then
      seq = existing(user, redis.call('HGET', bucket, field))
      if not seq then
        -- Another user owns this fingerprint: index by full userId.
        redis.call('HSET', KEYS[4], user, len + 1)
        overflow = true
      end
    end
    if not seq then
      len = len + 1
      push[#push + 1] = user
      fresh[user] = len
      out[#out + 1] = len
    end
  end
  if seq then
    fresh[user] = seq
    out[#out + 1] = -seq
  elseif closed then
    out[#out + 1] = 0
  end
end
if #push > 0 then
  redis.call('RPUSH', KEYS[2], unpack(push))
end
return out
