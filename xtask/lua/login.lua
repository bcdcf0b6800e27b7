function init(args)
  users = tonumber(os.getenv("BENCH_USERS"))
  password = os.getenv("BENCH_PASSWORD")
  i = id * 7919
end
function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" },
    '{"email":"bench-' .. (i % users) .. '@example.com","password":"' .. password .. '"}')
end
