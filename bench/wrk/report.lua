-- report.lua: shared wrk helpers. Loaded with dofile() by join.lua and poll.lua,
-- or used directly as `wrk -s bench/wrk/report.lua URL` for a plain GET run.
--
-- Why: wrk's human summary is hard to parse and hides the error breakdown.
-- done() prints ONE line that bench/queue.sh greps:
--   WRKRESULT label=<l> rps=<f> p50_us=<n> p99_us=<n> requests=<n> duration_s=<f>
--             non2xx=<n> status_ge400=<n> connect=<n> read=<n> write=<n> timeout=<n>
-- rps counts every completed response, including errors; a run with any
-- non-zero error field must not be trusted (queue.sh flags it).
--
-- Non-2xx counting: wrk itself only counts status >= 400 (status_ge400). With
-- WRK_STRICT=1 (the default in queue.sh) a response() hook counts every status
-- outside 200..299 per thread (non2xx). The hook makes wrk collect each
-- response, costing the client a little; it is on for every run of a round,
-- ceiling included, so ratios stay fair. With WRK_STRICT=0, non2xx is -1.
-- Labels come from env WRK_LABEL (default "wrk").

local report = {}
local threads = {}

-- Call from setup(thread): numbers threads 1..n (scripts use the number to
-- make user ids distinct across threads) and remembers them for done().
function report.register(thread)
  table.insert(threads, thread)
  local id = #threads
  thread:set("bench_thread_id", id)
  return id
end

-- Default setup for scripts that need nothing else; join/poll override it and
-- call report.register themselves.
function setup(thread)
  report.register(thread)
end

report.strict = os.getenv("WRK_STRICT") == "1"
if report.strict then
  bench_non2xx = 0
  function response(status, headers, body)
    if status < 200 or status > 299 then
      bench_non2xx = bench_non2xx + 1
    end
  end
end

function done(summary, latency, requests)
  local non2xx = -1
  if report.strict then
    non2xx = 0
    for _, t in ipairs(threads) do
      non2xx = non2xx + (t:get("bench_non2xx") or 0)
    end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT label=%s rps=%.1f p50_us=%d p99_us=%d requests=%d duration_s=%.2f"
      .. " non2xx=%d status_ge400=%d connect=%d read=%d write=%d timeout=%d\n",
    os.getenv("WRK_LABEL") or "wrk",
    summary.requests / secs,
    latency:percentile(50), latency:percentile(99),
    summary.requests, secs,
    non2xx, e.status, e.connect, e.read, e.write, e.timeout))
end

-- Exposed as a global, not returned: wrk runs this file with luaL_dofile and a
-- top-level return value left on its Lua stack breaks wrk's own stack indexing.
bench_report = report
