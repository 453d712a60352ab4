-- The admissions of the batches not marked announced, for a new lease
-- holder to publish again (their first holder may have died before the bus
-- had them). Read-only; a batch is rebuilt from the log: its places, minus
-- the entries that had left before their turn (score kind 0 in `left`; an
-- entry that left once admitted, kind 1, was admitted).
-- KEYS: meta, line, left, adm, order
-- ARGV: epoch, after (the last batch the caller has; 0: from the cursor),
--       max_admissions (the reply's size; the caller asks again from `last`)
-- Returns {adm_count, last, lost, seqs, users, at_ms, expires_ms}: the
-- admissions of batches after..last in order; `lost`: unannounced batches
-- already trimmed from the log (their sessions ended over a minute ago).
local m = redis.call('HMGET', KEYS[1], 'epoch', 'announced', 'adm_count', 'adm_trimmed', 'drawn')
if m[1] ~= ARGV[1] then
  return {0, 0, 0, {}, {}, {}, {}}
end
local count = tonumber(m[3] or 0)
local trimmed = tonumber(m[4] or 0)
local after = tonumber(ARGV[2])
if after == 0 then
  after = tonumber(m[2] or 0)
end
local lost = 0
if after < trimmed then
  lost = trimmed - after
  after = trimmed
end
local drawn = tonumber(m[5] or 0)
local max = tonumber(ARGV[3])
local seqs, users, ats, exps = {}, {}, {}, {}
local last = after
while last < count and #seqs < max do
  -- Batch number last + 1 sits at this index of the trimmed log.
  local batch = redis.call('LINDEX', KEYS[4], last - trimmed)
  if not batch then
    break
  end
  local from, to, at, expires = string.match(batch, '^(%d+):(%d+):(%d+):(%d+)')
  for place = tonumber(from) + 1, tonumber(to) do
    local seq = seq_at(KEYS[5], drawn, place)
    local left = redis.call('ZSCORE', KEYS[3], seq)
    if not left or tonumber(left) % 2 == 1 then
      local n = #seqs + 1
      seqs[n] = seq
      users[n] = redis.call('LINDEX', KEYS[2], seq - 1)
      ats[n] = at
      exps[n] = expires
    end
  end
  last = last + 1
end
return {count, last, lost, seqs, users, ats, exps}
