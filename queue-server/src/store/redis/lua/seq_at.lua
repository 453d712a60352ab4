-- Prepended to the scripts that walk the line by place (scripts.rs).
-- The seq at `place`: a drawn pre-queue's order key lists the seqs of the
-- first `drawn` places, four bytes big-endian each; every later place is
-- its own seq.
local function seq_at(order_key, drawn, place)
  if place > drawn then
    return place
  end
  local at = (place - 1) * 4
  return struct.unpack('>I4', redis.call('GETRANGE', order_key, at, at + 3))
end
