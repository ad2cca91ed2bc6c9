-- SPDX-License-Identifier: Apache-2.0
-- wrk script: POST /api/v1/incidents with a Bearer token (env KANRI_TOKEN),
-- over the groups in env KANRI_GROUPS (comma list). Counts the 201 answers
-- of all threads and prints "created: N" and "statuses: ..." at the end.
local token = os.getenv("KANRI_TOKEN") or ""
local groups = {}
for g in string.gmatch(os.getenv("KANRI_GROUPS") or "service-desk", "[^,]+") do
  groups[#groups + 1] = g
end
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  created = 0
  statuses = {}
  n = 0
  math.randomseed(tid * 7919 + os.time())
end

function request()
  n = n + 1
  local impact = math.random(1, 3)
  local urgency = math.random(1, 3)
  local body = string.format(
    '{"title":"Mail delivery delayed for user %d on host mx%d (wrk %d-%d)",' ..
    '"description":"Users report that outgoing mail sits in the queue for several minutes before delivery.",' ..
    '"category":"software","organisation":"ACME","impact":%d,"urgency":%d,"assignment_group":"%s"}',
    math.random(1, 100000), math.random(0, 15), tid, n, impact, urgency,
    groups[math.random(1, #groups)])
  return wrk.format("POST", "/api/v1/incidents", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then created = created + 1 end
end

function done(summary, latency, requests)
  local total, all = 0, {}
  for _, t in ipairs(threads) do
    total = total + t:get("created")
    local s = t:get("statuses")
    for k, v in pairs(s) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  io.write(string.format("created: %d\n", total))
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
