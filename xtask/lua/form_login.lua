-- A password sign-in through the hosted page's form, as a browser posts it:
-- the forms cookie and the form's anti-forgery token (read once from the
-- page), the Origin, a urlencoded body. Answered 303 to the account page.
local function encode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
function init(args)
  users = tonumber(os.getenv("BENCH_USERS"))
  password = encode(os.getenv("BENCH_PASSWORD"))
  cookie = os.getenv("BENCH_FORMS_COOKIE")
  token = encode(os.getenv("BENCH_FORM_TOKEN"))
  origin = os.getenv("BENCH_ORIGIN")
  i = id * 7919
end
function request()
  i = i + 1
  return wrk.format("POST", "/ui/sign-in", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = cookie,
      ["Origin"] = origin,
    },
    "csrf_token=" .. token .. "&return_to=%2Fui%2Faccount&email=bench-" .. (i % users)
      .. "%40example.com&password=" .. password)
end
