-- wrk: replays pre-signed Stripe deliveries (bench/webhook_events.py), each
-- thread starting at its own offset.
local deliveries = {}
local next_index = 0

function init(args)
  for line in io.lines(os.getenv("WEBHOOK_FILE")) do
    local signature, body = line:match("^([^\t]+)\t(.*)$")
    deliveries[#deliveries + 1] = { signature, body }
  end
  next_index = math.random(#deliveries)
end

function request()
  next_index = next_index % #deliveries + 1
  local delivery = deliveries[next_index]
  return wrk.format("POST", "/webhooks/stripe",
    { ["Content-Type"] = "application/json", ["Stripe-Signature"] = delivery[1] }, delivery[2])
end
