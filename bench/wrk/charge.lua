-- wrk: a new charge per request, each with an Idempotency-Key of its own (bench/cluster.sh).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  counter = 0
  prefix = string.format("%d-%d-%d-", id, os.time(), math.random(1, 1e9))
end
request = function()
  counter = counter + 1
  local key = prefix .. counter
  local body = '{"amount":1250,"currency":"USD","orderId":"o' .. key .. '","description":"bench","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}'
  return wrk.format("POST", "/v1/payments", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer sk_test_acme", ["Idempotency-Key"] = key}, body)
end
