-- The hosted sign-in page, as a first visit renders it (a new forms cookie
-- and a token for each form).
function request()
  return wrk.format("GET", "/ui/sign-in", { ["Accept-Language"] = "en" })
end
