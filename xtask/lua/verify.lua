-- Each thread walks the tokens from its own offset, round and round.
function init(args)
  tokens = lines("BENCH_TOKENS")
  i = id * 7919
end
function request()
  i = i + 1
  return wrk.format("GET", "/api/v1/auth/verify", { ["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1] })
end
