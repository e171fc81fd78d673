-- wrk script for both targets, chosen by BENCH_MODE:
--   lookup: contactByIdentifier(channel: PHONE) with random loaded phones in human formats;
--           needs BENCH_PHONES (file, one "04xxxxxxxx" a line) and BENCH_API_KEY.
--   context: contactContext(channel: PHONE) on the same phones (an editor key).
--   floor:  { hello } against the bare strawberry app.
-- Every response is checked (200, the expected field, no "errors"); done() prints the
-- CHECK, PCT (latency percentiles in microseconds) and SUMMARY lines run.py parses.

local query = 'query($v: String!){ contactByIdentifier(channel: PHONE, value: $v)'
  .. '{ id firstName lastName email phone } }'

local context_query = 'mutation($v: String!){ contactContext(channel: PHONE, value: $v)'
  .. '{ contact { id phone } created nextAppointment { startsAt status } '
  .. 'lastAppointment { startsAt } activeSubscriptions { id status } lastOrder { id status } } }'

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local phones = {}
local n = 0
ok, bad, shown = 0, 0, 0

local mode = os.getenv("BENCH_MODE") or "lookup"
local expect = '"id"'

function init(args)
  math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1") + thread_id)
  wrk.method = "POST"
  wrk.path = "/graphql"
  wrk.headers["Content-Type"] = "application/json"
  if mode == "floor" then
    expect = '"hello"'
    wrk.body = '{"query":"{ hello }"}'
    return
  end
  if mode == "context" then
    query = context_query
    expect = '"lastOrder":{"id"'
  end
  for line in io.lines(os.getenv("BENCH_PHONES")) do
    n = n + 1
    phones[n] = line
  end
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY")
end

local function human(m)
  local style = math.random(3)
  if style == 1 then
    return "+61 " .. m:sub(2, 4) .. " " .. m:sub(5, 7) .. " " .. m:sub(8, 10)
  elseif style == 2 then
    return m:sub(1, 4) .. " " .. m:sub(5, 7) .. " " .. m:sub(8, 10)
  end
  return "(" .. m:sub(1, 2) .. ") " .. m:sub(3, 6) .. " " .. m:sub(7, 10)
end

function request()
  if mode == "floor" then
    return wrk.format()
  end
  local body = '{"query":"' .. query .. '","variables":{"v":"' .. human(phones[math.random(n)]) .. '"}}'
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 and body:find(expect, 1, true) and not body:find('"errors"', 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if shown < 3 then
      shown = shown + 1
      io.stderr:write("bad response " .. status .. ": " .. body:sub(1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
  end
  io.write(string.format("CHECK ok=%d bad=%d\n", good, wrong))
  for _, p in ipairs({ 50, 75, 90, 99, 99.9 }) do
    io.write(string.format("PCT %g %d\n", p, latency:percentile(p)))
  end
  local e = summary.errors
  io.write(string.format(
    "SUMMARY requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d max_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.max, latency.mean))
end
