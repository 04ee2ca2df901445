-- wrk script of the serving benchmark: every request POSTs a body drawn at random from a
-- file of real bodies, one JSON body a line, so each request reads other keys, as callers do.
--
--   wrk -t1 -c8 -d10s -s bench/serve_keys.lua http://127.0.0.1:8101/predict -- bodies.jsonl
--
-- wrk's Lua is LuaJIT (Lua 5.1): each thread has its own state, so each loads the file in
-- init() and draws from its own generator, seeded from the thread's number.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("number", threads)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "no bodies file: pass it after --")
  bodies = {}
  for line in file:lines() do
    bodies[#bodies + 1] = line
  end
  file:close()
  assert(#bodies > 0, "the bodies file is empty")
  math.randomseed(7919 * number)
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("POST", nil, headers, bodies[math.random(#bodies)])
end
