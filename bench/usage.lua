-- wrk: POST /api/v1/organizations/{id}/usage, one report a request, each
-- with an id of its own (thread, counter and $BENCH_RUN), so every request
-- is a write: the usage row, the report's id and the snapshot history.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  counter = 0
  run = os.getenv("BENCH_RUN") or "run"
  -- wrk.format replaces wrk.headers (the -H flags: the key) with what it is given.
  headers = { ["Content-Type"] = "application/json" }
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
end

function request()
  counter = counter + 1
  local body = string.format('{"reports":[{"id":"bench-%s-%d-%d","metric":"storage_gb","set":%d}]}',
    run, tid, counter, counter % 10)
  return wrk.format("POST", nil, headers, body)
end
