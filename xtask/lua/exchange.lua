-- Every authorization code once (thread t takes codes t, t+T, t+2T…), each
-- exchanged at the token endpoint by the client in BENCH_CLIENT_AUTH; then
-- the thread idles on /healthz (the bench counts the token endpoint's 200s).
function init(args)
  codes = lines("BENCH_CODES")
  redirect = os.getenv("BENCH_REDIRECT")
  client = os.getenv("BENCH_CLIENT_AUTH")
  step = tonumber(os.getenv("BENCH_THREADS"))
  i = id + 1 - step
end
function request()
  i = i + step
  if i > #codes then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/oauth2/token", {
    ["Authorization"] = client,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=authorization_code&redirect_uri=" .. redirect .. "&code=" .. codes[i])
end
