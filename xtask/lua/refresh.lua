-- A pool of refresh tokens per thread: each response puts the successor back.
function init(args)
  pool = {}
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local n = 0
  for line in io.lines(os.getenv("BENCH_REFRESH")) do
    if n % threads == id then pool[#pool + 1] = line end
    n = n + 1
  end
end
function request()
  local token = table.remove(pool, 1)
  if token == nil then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
