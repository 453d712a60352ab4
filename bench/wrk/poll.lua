-- poll.lua: GET /v1/api/queues/{queueId}/entries/{entryId}, cycling over
-- existing entryIds so every request is a real position lookup.
--
-- Ids come from the file named by ENTRY_IDS_FILE, one per line (bench/queue.sh
-- fills it with bench/prejoin.py). All request strings are built once in
-- init(): during the run wrk only hands back a prepared string, so the
-- client-side Lua cost stays tiny and equal to the ceiling run, which uses this
-- same script. Threads start at different offsets so they don't poll the same
-- entry in lockstep.
--
-- Env: ENTRY_IDS_FILE (required), QUEUE_ID (default "bench"),
-- WRK_LABEL / WRK_STRICT (see report.lua).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
local report = bench_report

function setup(thread)
  report.register(thread)
end

local reqs = {}
local n = 0
local i = 0

function init(args)
  local file = os.getenv("ENTRY_IDS_FILE")
  if file == nil or file == "" then
    error("poll.lua: set ENTRY_IDS_FILE to a file with one entryId per line")
  end
  local f = io.open(file, "r")
  if f == nil then
    error("poll.lua: cannot open ENTRY_IDS_FILE " .. file)
  end
  local prefix = "/v1/api/queues/" .. (os.getenv("QUEUE_ID") or "bench") .. "/entries/"
  for line in f:lines() do
    local id = line:match("^%s*(.-)%s*$")
    if id ~= "" then
      n = n + 1
      reqs[n] = wrk.format("GET", prefix .. id)
    end
  end
  f:close()
  if n == 0 then
    error("poll.lua: no entryIds in " .. file)
  end
  i = ((bench_thread_id or 1) - 1) * 7919 % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
