-- wrk script for bench_webhook.py: every thread replays its own share of pre-encrypted webhook
-- requests, each exactly once (distinct MsgIds), and reports what it sent and what came back.
-- Usage: wrk ... -s webhook_wrk.lua URL -- REQUESTS_FILE THREADS
-- REQUESTS_FILE: one request a line, "path?query<TAB>body"; line i belongs to thread i % THREADS.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1),
        { ["Content-Type"] = "text/xml" }, line:sub(tab + 1))
    end
    i = i + 1
  end
  sent, answered, bad, exhausted = 0, 0, 0, 0
end

function request()
  if sent >= #reqs then
    -- Out of distinct messages: resend the last one (a platform retry) and say so in the report.
    exhausted = exhausted + 1
    return reqs[#reqs]
  end
  sent = sent + 1
  return reqs[sent]
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 or body == nil or #body == 0 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local per = {}
  for _, t in ipairs(threads) do
    per[#per + 1] = string.format('{"id":%d,"sent":%d,"answered":%d,"bad":%d,"exhausted":%d}',
      t:get("id"), t:get("sent"), t:get("answered"), t:get("bad"), t:get("exhausted"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d},"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"threads":[%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(per, ",")))
end
