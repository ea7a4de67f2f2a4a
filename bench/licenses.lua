-- wrk: POST /api/v1/licenses/validate, rotating over the machines in
-- $LICENSE_FILE (one "key<TAB>fingerprint" a line), each thread from its
-- own offset, as a fleet of installations checking in would.
local machines = {}
local next_index = 0

function init(args)
  for line in io.lines(os.getenv("LICENSE_FILE")) do
    local key, fingerprint = line:match("^([^\t]+)\t(.*)$")
    machines[#machines + 1] = string.format('{"key":"%s","fingerprint":"%s","nonce":"bench"}', key, fingerprint)
  end
  next_index = math.random(#machines)
end

function request()
  next_index = next_index % #machines + 1
  return wrk.format("POST", "/api/v1/licenses/validate", { ["Content-Type"] = "application/json" }, machines[next_index])
end
