-- nvim_test.lua -- Neovim's built-in LSP client against `kairos lsp`
-- (run by tests/lsp/run.sh: nvim --headless --clean -c "luafile nvim_test.lua").
-- Environment: KAIROS (the binary), POLICY (a policy file to open, with one
-- error at line 4), RESULT (where "ok" or the failures are written).
local kairos, policy, result = os.getenv("KAIROS"), os.getenv("POLICY"), os.getenv("RESULT")
local failures = {}
local function check(name, cond, detail)
  if not cond then table.insert(failures, name .. " " .. vim.inspect(detail)) end
end
local function finish()
  local f = io.open(result, "w")
  if #failures == 0 then f:write("ok\n") else f:write(table.concat(failures, "\n") .. "\n") end
  f:close()
  vim.cmd("qall!")
end

vim.cmd("edit " .. policy)
local buf = vim.api.nvim_get_current_buf()
local id = vim.lsp.start_client({ name = "kairos", cmd = { kairos, "lsp" }, root_dir = vim.fn.getcwd() })
check("start", id ~= nil, id)
vim.lsp.buf_attach_client(buf, id)
local client = vim.lsp.get_client_by_id(id)

-- diagnostics on open
local got = vim.wait(10000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local d = vim.diagnostic.get(buf)
check("diagnostics", got and d[1] and d[1].lnum == 3 and d[1].severity == vim.diagnostic.severity.ERROR
      and d[1].message:find("emial") ~= nil, d)

-- an edit through the buffer (incremental sync): the error goes away
vim.api.nvim_buf_set_text(buf, 3, 14, 3, 19, { "email" })
got = vim.wait(10000, function()
  for _, x in ipairs(vim.diagnostic.get(buf)) do
    if x.severity == vim.diagnostic.severity.ERROR then return false end
  end
  return true
end, 50)
check("diagnostics-after-edit", got, vim.diagnostic.get(buf))

local function req(method, line, col)
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = line, character = col } }
  local r = client.request_sync(method, params, 5000, buf)
  return r and r.result
end
local h = req("textDocument/hover", 4, 6)
check("hover", h and h.contents and h.contents.value:find("let calm") ~= nil, h)
local def = req("textDocument/definition", 4, 5)
check("definition", def and def.range and def.range.start.line == 1 and def.range.start.character == 4, def)
local comp = req("textDocument/completion", 4, 0)
local labels = {}
for _, it in ipairs((comp and comp.items) or {}) do labels[it.label] = true end
check("completion", labels["ask"] and labels["calm"] and labels["ticket_closed"] and labels["NPS"], comp)

-- formatting: the buffer becomes what `kairos fmt` prints
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "rule   nps :", "  ask NPS after ticket_closed+24h" })
vim.wait(300)
vim.lsp.buf.formatting_sync(nil, 5000)
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local want = vim.fn.systemlist({ kairos, "fmt", "-" }, { "rule   nps :", "  ask NPS after ticket_closed+24h" })
check("formatting", vim.deep_equal(lines, want) and #want > 0, { lines = lines, want = want })

vim.lsp.stop_client(id)
finish()
