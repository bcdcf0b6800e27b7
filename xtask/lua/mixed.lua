-- 95 % /me, 4 % refresh, 1 % profile update, per user, keeping each user's
-- newest tokens (found in responses by user id).
function init(args)
  access, refresh, busy = {}, {}, {}
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local a = lines("BENCH_TOKENS")
  local ids = lines("BENCH_IDS")
  owner = {}
  local n = 0
  for line in io.lines(os.getenv("BENCH_REFRESH")) do
    n = n + 1
    if n % threads == id then
      access[#access + 1] = a[n]; refresh[#refresh + 1] = line; owner[#owner + 1] = ids[n]
    end
  end
  math.randomseed(id * 12345 + os.time())
  writes = 0
end
function request()
  local u = math.random(#access)
  local r = math.random()
  if r < 0.04 and not busy[u] then
    busy[u] = true
    return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json", ["X-Bench-User"] = tostring(u) },
      '{"refresh_token":"' .. refresh[u] .. '"}')
  elseif r < 0.05 then
    writes = writes + 1
    return wrk.format("PUT", "/api/v1/users/me/profile", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. access[u] },
      '{"bio":"bench ' .. id .. '-' .. writes .. '"}')
  end
  return wrk.format("GET", "/api/v1/auth/me", { ["Authorization"] = "Bearer " .. access[u] })
end
function response(status, headers, body)
  local r = body:match('"refresh_token":"([^"]+)"')
  if r then
    local a = body:match('"access_token":"([^"]+)"')
    -- the user is the one whose refresh token is in flight with the same user id
    local user = body:match('"user":{"id":"([^"]+)"')
    for u, flag in pairs(busy) do
      if flag and owner[u] == user then access[u] = a; refresh[u] = r; busy[u] = nil; return end
    end
  end
end
