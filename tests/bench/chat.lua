-- wrk script for tests/bench/full.sh: every request is a non-streaming chat completion
-- POST, and the run ends with one key=value line that full.sh parses.
--
-- BENCH_EXTRA_HEADER="Name: value" adds one request header (Portkey reads its routing
-- configuration from x-portkey-config).

wrk.method = "POST"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Say hello in one word."}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer client-key"

local extra = os.getenv("BENCH_EXTRA_HEADER")
if extra and extra ~= "" then
    local name, value = extra:match("^([^:]+):%s*(.*)$")
    if name then
        wrk.headers[name] = value
    end
end

-- Latencies are in microseconds; status_errors counts answers outside 2xx and 3xx.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f mean_us=%.0f socket_errors=%d "
            .. "status_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        latency.mean, e.connect + e.read + e.write + e.timeout, e.status))
end
