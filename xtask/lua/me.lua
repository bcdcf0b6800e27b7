-- Each thread walks the tokens from its own offset, round and round, on
-- `/me` or the path in BENCH_PATH (forward-auth).
function init(args)
  tokens = lines("BENCH_TOKENS")
  path = os.getenv("BENCH_PATH") or "/api/v1/auth/me"
  i = id * 7919
end
function request()
  i = i + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1] })
end
