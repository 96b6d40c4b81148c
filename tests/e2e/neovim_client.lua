-- Headless Neovim 0.7 as an LSP client of the Lens server (run by test_neovim.py).
-- Neovim 0.7 has no vim.lsp.start: start_client + buf_attach_client. Writes what it
-- received as JSON to $LENS_OUT and exits 0, or 1 when no diagnostics came in time.

local python = os.getenv('LENS_PYTHON')
local file = os.getenv('LENS_FILE')
local root = os.getenv('LENS_ROOT')
local out = os.getenv('LENS_OUT')
local timeout_ms = tonumber(os.getenv('LENS_TIMEOUT_MS') or '180000')
local settings = vim.fn.json_decode(os.getenv('LENS_SETTINGS') or '{}')

vim.cmd('edit ' .. vim.fn.fnameescape(file))
local bufnr = vim.api.nvim_get_current_buf()
local uri = vim.uri_from_bufnr(bufnr)

-- Notice the publishes for our buffer (the default handler still stores them). The
-- settings may arrive after the first analysis started, so the last publish counts.
local received = nil
local publishes = 0
local last_event = vim.loop.now()
local default_publish = vim.lsp.handlers['textDocument/publishDiagnostics']
vim.lsp.handlers['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
  default_publish(err, result, ctx, config)
  if result and result.uri == uri then
    publishes = publishes + 1
    last_event = vim.loop.now()
    if #result.diagnostics > 0 then
      received = result.diagnostics
    end
  end
end

local statuses = {}
local analysed = false  -- the server's lens/status carrying our uri: its final publish is in
local client_id = vim.lsp.start_client({
  name = 'lens',
  cmd = { python, '-m', 'server' },
  root_dir = root,
  settings = settings,
  -- Neovim 0.7 does not advertise workspace/configuration, so a server learns the settings
  -- only from this notification (what nvim-lspconfig sends on init, too).
  on_init = function(client)
    client.notify('workspace/didChangeConfiguration', { settings = client.config.settings })
  end,
  handlers = {
    ['lens/status'] = function(_, params)
      table.insert(statuses, params.state)
      last_event = vim.loop.now()
      if params.uri == uri and publishes > 0 then
        analysed = true
      end
    end,
  },
})
vim.lsp.buf_attach_client(bufnr, client_id)

-- Done when the server says it finished analysing our buffer (it publishes a quick
-- lexical pass first, then the full one, then that status), and a moment has passed for a
-- re-analysis the pushed settings may have started.
local ok = vim.wait(timeout_ms, function()
  return received ~= nil and analysed and vim.loop.now() - last_event > 3000
end, 200)

vim.fn.writefile({ vim.fn.json_encode({
  ok = ok,
  publishes = publishes,
  statuses = statuses,
  lsp = received or {},
  nvim = vim.diagnostic.get(bufnr),
}) }, out)

local client = vim.lsp.get_client_by_id(client_id)
if client then
  client.stop()
  vim.wait(5000, function()
    return client.is_stopped()
  end, 100)
end
vim.cmd(ok and 'qall!' or 'cquit 1')
