-- Each thread walks the tokens from its own offset, round and round, on
-- `/me` or the path in BENCH_PATH (forward-auth); with BENCH_CLIENT_AUTH, as
-- an RFC 7662 introspection: a form POST by an API client.
function init(args)
  tokens = lines("BENCH_TOKENS")
  path = os.getenv("BENCH_PATH") or "/api/v1/auth/me"
  client = os.getenv("BENCH_CLIENT_AUTH")
  i = id * 7919
end
function request()
  i = i + 1
  local token = tokens[(i % #tokens) + 1]
  if client then
    return wrk.format("POST", path, {
      ["Authorization"] = client,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "token=" .. token)
  end
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
