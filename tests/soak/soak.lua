-- wrk script for tests/soak/soak.sh: POSTs chat completions (streamed when SOAK_STREAM=1),
-- paced by SOAK_DELAY_MS per connection so that the soak leaves the machine some room, and
-- ends with one key=value line counting every status, summed over wrk's threads.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if os.getenv("SOAK_STREAM") == "1" then
    wrk.body = '{"model":"soak","stream":true,"messages":[{"role":"user","content":"Hello."}]}'
else
    wrk.body = '{"model":"soak","messages":[{"role":"user","content":"Say hello in one word."}]}'
end

local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "0") or 0
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    statuses = {}
end

function delay()
    return pause
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

-- requests=N socket_errors=N p99_us=N codes=200:N,429:N (codes sorted by status)
function done(summary, latency, requests)
    local all, keys, parts = {}, {}, {}
    for _, thread in ipairs(threads) do
        for status, n in pairs(thread:get("statuses") or {}) do
            all[status] = (all[status] or 0) + n
        end
    end
    for status in pairs(all) do
        table.insert(keys, status)
    end
    table.sort(keys)
    for _, status in ipairs(keys) do
        table.insert(parts, status .. ":" .. all[status])
    end
    local e = summary.errors
    io.write(string.format("requests=%d socket_errors=%d p99_us=%.0f codes=%s\n",
        summary.requests, e.connect + e.read + e.write + e.timeout,
        latency:percentile(99), table.concat(parts, ",")))
end
