-- wrk script for bench/http.py: rotates requests read from a data file.
--
--   wrk -t2 -c32 -d20s -s bench/wrk/rotate.lua http://127.0.0.1:8000 -- <data file>
--
-- The data file (written by bench/http.py) has one request per line, tab-separated:
--   METHOD <TAB> PATH <TAB> BEARER TOKEN (or "-") <TAB> BODY (or "-")
-- Each thread walks the lines from its own offset, one line per request, so the buyer
-- tokens (and their intents) rotate. In a body, the marker #N# is replaced by a counter
-- unique across threads, so no two POST bodies are equal (nothing is deduplicated).
-- done() prints one line "WRKJSON {...}" with the counts and latency percentiles (µs) that
-- bench/http.py parses; wrk counts a status >= 400 in errors.status.

local requests_ = {}
local next_index = 1
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
   thread:set("wrk_thread_id", #threads)
   table.insert(threads, thread)
end

local function split_tabs(line)
   local fields = {}
   for field in string.gmatch(line, "([^\t]+)") do
      table.insert(fields, field)
   end
   return fields
end

function init(args)
   local path = args[1]
   local file = assert(io.open(path, "r"), "cannot open data file " .. tostring(path))
   for line in file:lines() do
      local f = split_tabs(line)
      local entry = { method = f[1], path = f[2], headers = {} }
      if f[3] ~= "-" then
         entry.headers["Authorization"] = "Bearer " .. f[3]
      end
      if f[4] ~= nil and f[4] ~= "-" then
         entry.headers["Content-Type"] = "application/json"
         local at = string.find(f[4], "#N#", 1, true)
         if at then
            entry.prefix = string.sub(f[4], 1, at - 1)
            entry.suffix = string.sub(f[4], at + 3)
         else
            entry.body = f[4]
         end
      end
      table.insert(requests_, entry)
   end
   file:close()
   assert(#requests_ > 0, "no requests in " .. path)
   thread_id = tonumber(wrk_thread_id) or 0  -- a global set by setup()
   next_index = (thread_id * 7919) % #requests_ + 1
   math.randomseed(os.time() + thread_id)
end

function request()
   local entry = requests_[next_index]
   next_index = next_index % #requests_ + 1
   local body = entry.body
   if entry.prefix then
      counter = counter + 1
      body = entry.prefix .. tostring(thread_id * 100000000 + counter) .. entry.suffix
   end
   return wrk.format(entry.method, entry.path, entry.headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
      e.write, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
