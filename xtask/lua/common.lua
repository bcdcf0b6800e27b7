-- Shared by every script: thread ids, and reading a file of lines.
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function lines(variable)
  local all = {}
  for line in io.lines(os.getenv(variable)) do all[#all + 1] = line end
  return all
end
