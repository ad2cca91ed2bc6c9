-- SPDX-License-Identifier: Apache-2.0
-- wrk script: GET the open incidents of one group sorted by priority, rotating
-- over the groups in env KANRI_GROUPS; env KANRI_TOKEN is the Bearer token and
-- env KANRI_LIST_EXTRA is appended to the query string (e.g. "&total=false").
-- Prints "statuses: ..." at the end (every answer should be 200).
local token = os.getenv("KANRI_TOKEN") or ""
local extra = os.getenv("KANRI_LIST_EXTRA") or ""
local groups = {}
for g in string.gmatch(os.getenv("KANRI_GROUPS") or "service-desk", "[^,]+") do
  groups[#groups + 1] = g
end
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  statuses = {}
  i = tid
  reqs = {}
  for k, g in ipairs(groups) do
    reqs[k] = wrk.format("GET",
      "/api/v1/incidents?assignment_group=" .. g .. "&open=true&sort=priority&limit=50" .. extra,
      {["Authorization"] = "Bearer " .. token})
  end
end

function request()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
