-- Every token once: thread t takes tokens t, t+T, t+2T… then idles on /healthz.
function init(args)
  tokens = lines("BENCH_TOKENS")
  step = tonumber(os.getenv("BENCH_THREADS"))
  i = id + 1 - step
end
function request()
  i = i + step
  if i > #tokens then return wrk.format("GET", "/healthz") end
  return wrk.format("GET", "/api/v1/auth/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
