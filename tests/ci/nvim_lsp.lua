-- nvim_lsp.lua -- run by tests/ci/run.sh in a headless Neovim (its built-in
-- LSP client, 0.7 API): opens a policy with `kairos lsp` attached, waits
-- for the diagnostics, asks for a definition, the document symbols, a
-- hover, a completion and formatting, edits the buffer (incremental sync) and waits for the
-- diagnostics to clear.  Environment: KAIROS (the binary), POLICY (the
-- file), OUT (where the report goes: FAIL lines and "nvim: N passed, M failed").
local kairos, policy, out = os.getenv('KAIROS'), os.getenv('POLICY'), os.getenv('OUT')
local pass, fail, lines = 0, 0, {}
local function check(cond, msg)
  if cond then pass = pass + 1 else fail = fail + 1; table.insert(lines, 'FAIL: nvim: ' .. msg) end
end
local function finish()
  table.insert(lines, string.format('nvim: %d passed, %d failed', pass, fail))
  vim.fn.writefile(lines, out)
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(policy))
  local buf = vim.api.nvim_get_current_buf()
  local id = vim.lsp.start_client({ name = 'kairos', cmd = { kairos, 'lsp' },
                                    root_dir = vim.fn.fnamemodify(policy, ':h') })
  check(id ~= nil, 'the client started')
  vim.lsp.buf_attach_client(buf, id)
  local uri = vim.uri_from_bufnr(buf)

  -- diagnostics on open: `ticket_close` is not declared (line 3)
  vim.wait(10000, function() return #vim.diagnostic.get(buf) > 0 end, 20)
  local d = vim.diagnostic.get(buf)
  local code = d[1] and (d[1].code or (d[1].user_data and d[1].user_data.lsp and d[1].user_data.lsp.code))
  check(#d == 1 and code == 'K0301' and d[1].lnum == 3 and d[1].col == 16 and
        d[1].severity == vim.diagnostic.severity.WARN,
        'diagnostics on open: ' .. vim.inspect(d))

  -- definition of `recent` (line 4) -> its let (line 1)
  local r = vim.lsp.buf_request_sync(buf, 'textDocument/definition',
    { textDocument = { uri = uri }, position = { line = 4, character = 10 } }, 5000)
  local loc = r and r[id] and r[id].result
  check(loc and loc.uri == uri and loc.range.start.line == 1 and loc.range.start.character == 4,
        'definition: ' .. vim.inspect(r))

  -- document symbols
  r = vim.lsp.buf_request_sync(buf, 'textDocument/documentSymbol', { textDocument = { uri = uri } }, 5000)
  local names = {}
  for _, s in ipairs((r and r[id] and r[id].result) or {}) do table.insert(names, s.name) end
  check(table.concat(names, ',') == 'ticket_closed,recent,nps', 'symbols: ' .. table.concat(names, ','))

  -- hover on `recent`, completion at the start of a clause
  r = vim.lsp.buf_request_sync(buf, 'textDocument/hover',
    { textDocument = { uri = uri }, position = { line = 4, character = 10 } }, 5000)
  local h = r and r[id] and r[id].result
  check(h and h.contents and tostring(h.contents.value):find('let recent = count', 1, true) ~= nil,
        'hover: ' .. vim.inspect(r))
  r = vim.lsp.buf_request_sync(buf, 'textDocument/completion',
    { textDocument = { uri = uri }, position = { line = 4, character = 2 } }, 5000)
  local labels = {}
  for _, it in ipairs((r and r[id] and r[id].result and r[id].result.items) or {}) do labels[it.label] = true end
  check(labels.ticket_closed and labels.recent and labels.unless and labels.NPS, 'completion: ' .. vim.inspect(vim.tbl_keys(labels)))

  -- formatting: the buffer becomes kairos fmt's text
  local want = vim.fn.systemlist({ kairos, 'fmt', '-' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  vim.lsp.buf.formatting_sync(nil, 5000)
  check(vim.deep_equal(vim.api.nvim_buf_get_lines(buf, 0, -1, false), want),
        'formatting: ' .. vim.inspect(vim.api.nvim_buf_get_lines(buf, 0, -1, false)))

  -- an edit in the buffer (sent incrementally) fixes the name: no diagnostics
  local l = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  for i, s in ipairs(l) do
    local a, b = s:find('ticket_close ', 1, true)
    if a then vim.api.nvim_buf_set_text(buf, i - 1, b - 1, i - 1, b - 1, { 'd' }) end
  end
  check(vim.wait(10000, function() return #vim.diagnostic.get(buf) == 0 end, 20),
        'diagnostics after the edit: ' .. vim.inspect(vim.diagnostic.get(buf)))
  vim.lsp.stop_client(id)
end)
check(ok, 'the test script: ' .. tostring(err))
finish()
