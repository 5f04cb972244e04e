-- wrk script for bench/run.ts: POSTs WRK_BODY with content-type WRK_CONTENT_TYPE on every request
-- and, when the run is over, prints one machine-readable line (latencies in microseconds):
--   BENCH_RESULT {"requests":...,"p50_us":...,"p99_us":...,"status":<non-2xx/3xx count>,...}
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or "{}"
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
-- WRK_HEADERS: more headers as "name: value" pairs separated by newlines (bench/nuclio.ts)
for name, value in string.gmatch(os.getenv("WRK_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
      .. '"mean_us":%.1f,"max_us":%.1f,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
