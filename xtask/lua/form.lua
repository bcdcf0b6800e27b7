-- One form POST, again and again: BENCH_PATH with BENCH_BODY, as the client in
-- BENCH_CLIENT_AUTH (e.g. the client_credentials grant).
function init(args)
  path = os.getenv("BENCH_PATH")
  body = os.getenv("BENCH_BODY")
  client = os.getenv("BENCH_CLIENT_AUTH")
end
function request()
  return wrk.format("POST", path, {
    ["Authorization"] = client,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
