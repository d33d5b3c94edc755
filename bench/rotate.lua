-- wrk script for bench.load: each request names the next PNR of a list and comes "through a proxy"
-- from the next client address of a pool, so that many PNRs are looked up and no single address
-- meets the site's per-client rate limit; every answer's status and body are checked.
--
--   wrk ... -s rotate.lua URL -- PATH_PREFIX PNR_FILE EXPECTED_TEXT CLIENT_ADDRESSES START
--
-- done() prints one line, "WRK_RESULT {json}", that bench.load reads.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix, expected, clients = args[1], args[3], tonumber(args[4])
  pnrs = {}
  for line in io.lines(args[2]) do
    if #line > 0 then pnrs[#pnrs + 1] = line end
  end
  -- Threads start far apart in the lists, so they do not ask for the same PNR at the same time;
  -- each run starts elsewhere (START), so that successive runs do not replay the same addresses.
  n = id * 7919 + tonumber(args[5])
  ok, non_2xx, status_5xx, matched = 0, 0, 0, 0
end

function request()
  n = n + 1
  local pnr = pnrs[n % #pnrs + 1]
  local c = (n * 31 + id) % clients
  local headers = { ["X-Forwarded-For"] = string.format("10.%d.%d.%d", 1 + id, math.floor(c / 256) % 256, c % 256) }
  return wrk.format("GET", prefix .. pnr, headers)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else non_2xx = non_2xx + 1 end
  if status >= 500 then status_5xx = status_5xx + 1 end
  if body and string.find(body, expected, 1, true) then matched = matched + 1 end
end

function done(summary, latency, requests)
  local t = { ok = 0, non_2xx = 0, status_5xx = 0, matched = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"ok": %d, "non_2xx": %d, "status_5xx": %d, "matched": %d, ' ..
    '"socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    t.ok, t.non_2xx, t.status_5xx, t.matched, e.connect + e.read + e.write, e.timeout))
end
