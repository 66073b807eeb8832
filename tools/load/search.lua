-- wrk script for `biomatch bench serve`: POST /v1/search with the probe bodies listed in
-- BIOMATCH_LOAD_BODIES (one body file per line), taken in turn, sent with the content type in
-- BIOMATCH_LOAD_CONTENT_TYPE and the API key in BIOMATCH_LOAD_KEY. Every response that is not
-- 200 is counted as an error. Each request is formatted once, up front: formatting a body of
-- hundreds of kilobytes per request would spend the client's time, on the server's cores, on
-- copying strings.
local requests = {}
local index = 0

function init(args)
  local headers = {}
  headers["Authorization"] = "Bearer " .. os.getenv("BIOMATCH_LOAD_KEY")
  headers["Content-Type"] = os.getenv("BIOMATCH_LOAD_CONTENT_TYPE")
  local list = io.open(os.getenv("BIOMATCH_LOAD_BODIES"))
  for path in list:lines() do
    local file = io.open(path, "rb")
    requests[#requests + 1] = wrk.format("POST", "/v1/search", headers, file:read("*a"))
    file:close()
  end
  list:close()
end

function request()
  index = index % #requests + 1
  return requests[index]
end
