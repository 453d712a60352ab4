-- join.lua: POST /v1/api/queues/{queueId}/entries with a new userId per request.
--
-- Why distinct ids: a repeated userId takes the queue-server's idempotent
-- "already joined" path (200), which is not what a join benchmark measures.
-- A userId is "<run>-t<thread>-<counter>": wrk gives every thread its own Lua
-- state, so the per-thread counter is shared by that thread's connections,
-- and the thread number separates threads. <run> separates runs and rounds.
--
-- Env: QUEUE_ID (default "bench"), RUN_ID (default: time + random, so two
-- runs never collide), WRK_LABEL / WRK_STRICT (see report.lua).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
local report = bench_report

local queue = os.getenv("QUEUE_ID") or "bench"
local path = "/v1/api/queues/" .. queue .. "/entries"
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  report.register(thread)
end

local run_id
local counter = 0

function init(args)
  run_id = os.getenv("RUN_ID")
  if run_id == nil or run_id == "" then
    math.randomseed(os.time())
    run_id = string.format("%d%06d", os.time(), math.random(0, 999999))
  end
  -- bench_thread_id was set by setup() before init runs.
  run_id = run_id .. "-t" .. tostring(bench_thread_id or 0) .. "-"
end

function request()
  counter = counter + 1
  local body = '{"userId":"' .. run_id .. counter .. '"}'
  return wrk.format("POST", path, headers, body)
end
