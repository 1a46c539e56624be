-- wrk: the first page of the merchant's payments (bench/cluster.sh).
request = function()
  return wrk.format("GET", "/v1/payments?limit=10", {["Authorization"] = "Bearer sk_test_acme"})
end
