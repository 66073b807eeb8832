-- wrk script for `biomatch bench serve`: POST /v1/search with the probe bodies listed in
-- BIOMATCH_LOAD_BODIES (one body file per line), taken in turn, sent with the content type in
-- BIOMATCH_LOAD_CONTENT_TYPE and the API key in BIOMATCH_LOAD_KEY. Every response that is not
-- 200 is counted as an error.
local bodies = {}
local index = 0
local headers = {}

function init(args)
  local list = io.open(os.getenv("BIOMATCH_LOAD_BODIES"))
  for path in list:lines() do
    local file = io.open(path, "rb")
    bodies[#bodies + 1] = file:read("*a")
    file:close()
  end
  list:close()
  headers["Authorization"] = "Bearer " .. os.getenv("BIOMATCH_LOAD_KEY")
  headers["Content-Type"] = os.getenv("BIOMATCH_LOAD_CONTENT_TYPE")
end

function request()
  index = index % #bodies + 1
  return wrk.format("POST", "/v1/search", headers, bodies[index])
end
