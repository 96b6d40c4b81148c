#!/usr/bin/env node
// Lens in the real VS Code workbench: code-server 4.100.3 (VS Code 1.100) in Debian's
// Chromium, driven by playwright-core. Installs the built lens.vsix into a fresh
// extensions folder, opens the bundled sample in a temporary workspace and checks what
// a user would see:
//   diagnostics  a Lens finding in the Problems panel and its squiggle in the editor
//   hover        hovering a row shows its template
//   quick-fix    "delete this duplicate row" removes the row
//   show-rows    a template's code lens opens the references peek on its rows (lens.showRows)
//   clusters     "Lens: Show Clusters" opens the cluster explorer with cluster columns
//   tree         the Lens Clusters tree in the Explorer lists clusters; selecting one reveals
//                its first row, its context menu shows all its rows in the references peek
//   analyze-on-disk  "Lens: Analyze File on Disk" (lens/analyzeFile) reports rows and findings
//   attribution  the attribution lens on the demo model (`lens demo --workspace`): select the
//                model's wrong answer in answers.md, run "Lens: Attribute Selection", the results
//                panel lists the planted training row first, "Open in training file" lands on
//                its line in train.jsonl, where a code lens says what it supported
//   restart      a killed server is restarted and answers for the document again
// Screenshots, logs and summary.json go to test-artifacts/e2e/. Exit status 0 when
// every scenario passed.
//
//   node tests/e2e/vscode_workbench.js [--keep] [--only name,name]
// Needs: bash scripts/setup_e2e.sh (code-server, Chromium, playwright-core, lens.vsix)
// and the Lens environment (.venv; bash scripts/setup.sh).

'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const {
  REPO, CODE_SERVER_ENTRY, runFolders, writeUserSettings, installExtension, startCodeServer, processesInGroup,
} = require('./code_server');

const VSIX = path.join(REPO, 'vscode-extension', 'lens.vsix');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const LENS = path.join(REPO, '.venv', 'bin', 'lens');
const SAMPLE_DIR = path.join(REPO, 'lens_engine', 'data');
const SAMPLE = 'music_requests.csv';
const ARTIFACTS = path.join(REPO, 'test-artifacts', 'e2e');
const CHROMIUM = process.env.LENS_E2E_CHROMIUM || '/usr/bin/chromium';
// The first analysis loads spaCy and the embedding model on a busy 2-core machine.
const FIRST_DIAGNOSTICS_TIMEOUT_MS = Number(process.env.LENS_E2E_TIMEOUT_MS || 180_000);

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new Set(args[onlyArg + 1].split(',')) : undefined;

const log = (...parts) => console.error(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...parts);

async function main() {
  checkPrerequisites();
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const summary = { started: new Date().toISOString(), timings_s: {}, scenarios: {} };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-e2e-'));
  const { folders, env } = runFolders(root);
  let codeServer;
  let browser;
  try {
    summary.timings_s.prepare = await timed(async () => {
      for (const file of fs.readdirSync(SAMPLE_DIR)) {
        fs.copyFileSync(path.join(SAMPLE_DIR, file), path.join(folders.workspace, file));
      }
      writeUserSettings(folders.userData, { 'lens.interpreter': PYTHON });
      installExtension(VSIX, folders, env);
    });
    if (!only || only.has('attribution')) {
      // The demo model (built once into the Lens cache, ~2 min) and its workspace files:
      // answers.md, train.jsonl and .vscode/settings.json with the lens.attribution.* paths.
      summary.timings_s.demo_workspace = await timed(async () => {
        // The user's Lens cache unless the test run has its own: the demo is built once, not per run.
        const cache = process.env.LENS_CACHE_DIR || path.join(os.homedir(), '.cache', 'lens');
        execFileSync(LENS, ['demo', '--workspace', folders.workspace], { env: { ...env, LENS_CACHE_DIR: cache }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 900_000 });
      });
    }
    log(`extension installed; starting code-server (${root})`);
    summary.timings_s.start_code_server = await timed(async () => {
      codeServer = await startCodeServer(folders, env, path.join(ARTIFACTS, 'code-server.log'));
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    summary.timings_s.open_workbench = await timed(async () => {
      await page.goto(`${codeServer.url}/?folder=${encodeURIComponent(folders.workspace)}`);
      await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    });
    const context = { page, folders, codeServer };
    for (const [name, scenario] of SCENARIOS) {
      if (only && !only.has(name)) {
        continue;
      }
      summary.scenarios[name] = await runScenario(name, scenario, context);
    }
  } catch (error) {
    summary.error = String(error && error.stack ? error.stack : error);
    log('setup failed:', summary.error);
  } finally {
    if (browser) {
      await browser.close().catch(() => {});
    }
    if (codeServer) {
      await codeServer.stop();
    }
    collectLogs(folders.userData);
    if (!keep) {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  summary.passed = !summary.error && Object.keys(summary.scenarios).length > 0
    && Object.values(summary.scenarios).every((result) => result.passed);
  fs.writeFileSync(path.join(ARTIFACTS, 'summary.json'), JSON.stringify(summary, null, 2));
  console.log(JSON.stringify(summary, null, 2));
  process.exitCode = summary.passed ? 0 : 1;
}

function checkPrerequisites() {
  const missing = [
    [CODE_SERVER_ENTRY, 'code-server (bash scripts/setup_e2e.sh)'],
    [CHROMIUM, 'chromium (bash scripts/setup_e2e.sh)'],
    [VSIX, 'lens.vsix (bash scripts/build_extension.sh)'],
    [PYTHON, 'the Lens environment (bash scripts/setup.sh)'],
  ].filter(([file]) => !fs.existsSync(file));
  if (missing.length) {
    throw new Error(`missing: ${missing.map(([, what]) => what).join(', ')}`);
  }
}

async function timed(run) {
  const start = Date.now();
  await run();
  return Math.round((Date.now() - start) / 100) / 10;
}

async function runScenario(name, scenario, context) {
  log(`scenario ${name}`);
  const start = Date.now();
  const result = { passed: false };
  try {
    await dismissWidgets(context.page); // a menu left open by a failed scenario blocks clicks
    Object.assign(result, await scenario(context));
    result.passed = true;
  } catch (error) {
    result.error = String(error && error.message ? error.message : error);
    log(`scenario ${name} failed: ${result.error}`);
    await screenshot(context.page, `${name}-failure`).catch(() => {});
  }
  result.seconds = Math.round((Date.now() - start) / 100) / 10;
  log(`scenario ${name}: ${result.passed ? 'passed' : 'FAILED'} in ${result.seconds} s`);
  return result;
}

async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return path.relative(REPO, file);
}

// ---- workbench helpers -------------------------------------------------------------

async function dismissWidgets(page) {
  await page.mouse.move(5, 5);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
}

async function runCommand(page, title) {
  const input = page.locator('.quick-input-widget input');
  // On a busy machine the palette sometimes closes before it can be typed into: reopen it.
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press('F1');
    if (await input.waitFor({ state: 'visible', timeout: 10_000 }).then(() => true, () => false)) {
      try {
        await input.fill(`>${title}`, { timeout: 10_000 });
        break;
      } catch (error) {
        if (attempt >= 2) throw error;
      }
    } else if (attempt >= 2) {
      throw new Error(`the command palette did not open for "${title}"`);
    }
    await page.keyboard.press('Escape');
  }
  const item = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await item.waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Enter');
}

async function openSample(page) {
  const editorTab = page.locator('.tabs-container .tab', { hasText: SAMPLE });
  if (await editorTab.count()) {
    await editorTab.first().click();
    return;
  }
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: SAMPLE }).first().click();
  await page.locator('.monaco-editor .view-lines').first().waitFor({ state: 'visible', timeout: 30_000 });
}

async function showProblems(page) {
  if (!(await page.locator('.markers-panel').isVisible().catch(() => false))) {
    await page.keyboard.press('Control+Shift+M');
  }
  await page.locator('.markers-panel').waitFor({ state: 'visible', timeout: 10_000 });
}

/** Types into the Problems panel's filter box (empty text clears it). */
async function filterProblems(page, text) {
  const filter = page.locator('.panel .viewpane-filter input, .panel .markers-panel-action-filter input').first();
  await filter.fill(text);
  await page.waitForTimeout(500); // The filter applies after a short delay.
}

// A Problems row from Lens shows its source and code: "lens(exact-duplicate)".
const LENS_PROBLEM = /lens\W*(exact-duplicate|near-duplicate|semantic-duplicate|seed-copy|seed-template|syntactic-template|repeated-)/;

async function waitForLensProblem(page, timeout) {
  const row = page.locator('.markers-panel .monaco-list-row', { hasText: LENS_PROBLEM }).first();
  await row.waitFor({ state: 'visible', timeout });
  return row;
}

/** The editor's cursor line, 1-based, from the status bar ("Ln 97, Col 1"). */
async function cursorLine(page) {
  const text = await page.locator('#status\\.editor\\.selection').innerText();
  const match = /Ln (\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Shows or hides the bottom panel (Problems, Output, …). */
async function togglePanel(page) {
  await page.keyboard.press('Control+J');
  await page.waitForTimeout(300);
}

async function goToLine(page, line) {
  const input = page.locator('.quick-input-widget input');
  // Ctrl+G reaches the editor only when it has the focus (a toast or the tab strip may
  // hold it), so focus it first and try again if the box doesn't open.
  for (let attempt = 1; ; attempt++) {
    await page.locator('.editor-instance .monaco-editor textarea').first().focus();
    await page.keyboard.press('Control+G');
    const opened = await input.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false);
    if (opened) {
      break;
    }
    if (attempt === 3) {
      throw new Error('the Go to Line box did not open');
    }
    await dismissWidgets(page);
  }
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
}

// ---- scenarios ---------------------------------------------------------------------

async function diagnosticsScenario({ page }) {
  const start = Date.now();
  await openSample(page);
  await showProblems(page);
  const row = await waitForLensProblem(page, FIRST_DIAGNOSTICS_TIMEOUT_MS);
  const firstDiagnosticS = Math.round((Date.now() - start) / 100) / 10;
  const problem = await row.innerText();
  await page.locator('.monaco-editor .squiggly-warning, .monaco-editor .squiggly-info, .monaco-editor .squiggly-error')
    .first().waitFor({ state: 'attached', timeout: 30_000 });
  const squiggles = await page.locator('.monaco-editor .squiggly-warning, .monaco-editor .squiggly-info, .monaco-editor .squiggly-error').count();
  const problemsBadge = await page.locator('.panel .composite-bar .badge-content, .panel .title .badge .badge-content').first().innerText().catch(() => '');
  return { first_diagnostic_s: firstDiagnosticS, problem: problem.replace(/\s+/g, ' ').slice(0, 200), squiggles_in_view: squiggles, problems_badge: problemsBadge, screenshot: await screenshot(page, 'problems-panel') };
}

async function hoverScenario({ page }) {
  await openSample(page);
  // Row 1 (line 2) follows the sample's dominant template T1. The server publishes a
  // lexical pass first; the template shows once spaCy is through, so ask again until then.
  const deadline = Date.now() + FIRST_DIAGNOSTICS_TIMEOUT_MS;
  let content = await hoverRow(page, 2, 20_000);
  while (!/Template\s+T\d+\s+shared by \d+ rows/.test(content)) {
    if (Date.now() > deadline) {
      throw new Error(`the hover shows no template: ${content.slice(0, 200)}`);
    }
    await dismissWidgets(page);
    await page.waitForTimeout(2_000);
    content = await hoverRow(page, 2, 20_000);
  }
  const shot = await screenshot(page, 'hover-template');
  await dismissWidgets(page);
  return { hover: content.slice(0, 400), screenshot: shot };
}

/**
 * Hovers the second field of a line until Lens's row hover shows (retrying, since the
 * server answers none before its analysis). The diagnostics cover the analysed field
 * only, so the hover there is the row hover alone. Returns its text.
 */
async function hoverRow(page, lineNumber, timeoutMs) {
  await goToLine(page, lineNumber);
  const deadline = Date.now() + timeoutMs;
  const hover = page.locator('.monaco-hover:not(.hidden)', { hasText: /Lens · row \d+/ }).first();
  while (Date.now() < deadline) {
    const line = page.locator('.monaco-editor .view-line').nth(await visibleLineIndex(page, lineNumber));
    const box = await line.locator('span').first().boundingBox();
    const visible = await page.locator('.editor-instance .monaco-editor .overflow-guard').first().boundingBox();
    if (box && visible) {
      // Three quarters into the line's text, but inside the editor when the line is wider.
      const x = Math.min(box.x + box.width * 0.75, visible.x + visible.width - 150);
      await page.mouse.move(x, box.y + box.height / 2);
      if (await hover.waitFor({ state: 'visible', timeout: 3_000 }).then(() => true, () => false)) {
        return (await hover.innerText()).replace(/\s+/g, ' ');
      }
    }
    await dismissWidgets(page);
  }
  throw new Error(`no Lens hover on line ${lineNumber} within ${timeoutMs / 1000} s`);
}

/** Index among the rendered .view-line elements of the one showing `lineNumber` (they are not in order). */
async function visibleLineIndex(page, lineNumber) {
  const index = await page.evaluate((wanted) => {
    const numbers = [...document.querySelectorAll('.monaco-editor .margin-view-overlays .line-numbers')];
    const number = numbers.find((element) => element.textContent.trim() === String(wanted));
    if (!number) {
      return -1;
    }
    const top = number.parentElement.getBoundingClientRect().top;
    const lines = [...document.querySelectorAll('.monaco-editor .view-line')];
    return lines.findIndex((line) => Math.abs(line.getBoundingClientRect().top - top) < 2);
  }, lineNumber);
  if (index < 0) {
    throw new Error(`line ${lineNumber} is not on screen`);
  }
  return index;
}

async function quickFixScenario({ page, folders }) {
  const file = path.join(folders.workspace, SAMPLE);
  const before = fs.readFileSync(file, 'utf8').split('\n');
  await openSample(page);
  await showProblems(page);
  await filterProblems(page, 'Exact duplicate');
  const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'Exact duplicate' }).first();
  await problem.waitFor({ state: 'visible', timeout: 30_000 });
  // The message names the row's copies by line, so it belongs to this row alone.
  const deletedFinding = /Exact duplicate.*?in all/.exec(await problem.innerText())?.[0];
  if (!deletedFinding) {
    throw new Error(`unexpected problem text: ${await problem.innerText()}`);
  }
  await problem.click(); // selects the diagnostic's range in the editor
  await page.keyboard.press('Enter');
  await page.waitForTimeout(500);
  const line = await cursorLine(page);
  if (!line) {
    throw new Error('no cursor position after opening the problem');
  }
  const rowText = before[line - 1];
  await page.locator('.monaco-editor textarea').first().focus();
  await page.keyboard.press('Control+.');
  const fixTitle = await chooseAction(page, /^Delete this row/);
  await page.keyboard.press('Control+S');
  const after = await waitForFileChange(file, before.join('\n'), 15_000);
  const count = (lines, text) => lines.filter((candidate) => candidate === text).length;
  if (after.length !== before.length - 1 || count(after, rowText) !== count(before, rowText) - 1) {
    throw new Error(`expected line ${line} (${JSON.stringify(rowText)}) to be deleted; lines ${before.length} → ${after.length}`);
  }
  // The server re-analyses the edited text: the deleted row's own finding goes away.
  const rediagnoseStart = Date.now();
  await page.waitForFunction((oldText) => {
    const rows = [...document.querySelectorAll('.markers-panel .monaco-list-row')];
    return rows.length > 0 && !rows.some((row) => row.innerText.includes(oldText));
  }, deletedFinding, { timeout: 60_000, polling: 250 });
  const rediagnoseS = Math.round((Date.now() - rediagnoseStart) / 100) / 10;
  const shot = await screenshot(page, 'quick-fix-applied');
  await filterProblems(page, '');
  return { fix: fixTitle, deleted_line: line, row: rowText, lines_before: before.length, lines_after: after.length, rediagnosed_after_s: rediagnoseS, screenshot: shot };
}

/**
 * Picks an entry of the open code action menu by keyboard (a mouse click lands on the
 * menu's pointer block in code-server), and returns its title.
 */
async function chooseAction(page, title) {
  const menu = page.locator('.action-widget');
  await menu.locator('.monaco-list-row').first().waitFor({ state: 'visible', timeout: 20_000 });
  const entries = await menu.locator('.monaco-list-row').count();
  for (let step = 0; step <= entries; step++) {
    const label = (await menu.locator('.monaco-list-row.focused').getAttribute('aria-label')) || '';
    if (title.test(label)) {
      await screenshot(page, 'quick-fix-menu');
      await page.keyboard.press('Enter');
      return label;
    }
    await page.keyboard.press('ArrowDown');
  }
  throw new Error(`no code action matching ${title} in the menu`);
}

async function waitForFileChange(file, original, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = fs.readFileSync(file, 'utf8');
    if (text !== original) {
      return text.split('\n');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the file was not changed on disk (quick fix not applied or not saved)');
}

async function clustersScenario({ page, folders }) {
  await openSample(page);
  await runCommand(page, 'Lens: Show Clusters');
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  const clusters = frame.locator('section.cluster');
  await clusters.first().waitFor({ state: 'visible', timeout: 120_000 });
  const columns = await clusters.count();
  const header = await frame.locator('section.cluster header').first().innerText();
  const parses = await frame.locator('svg.parse').count();
  const k = await frame.locator('.kstep .k').innerText();
  // More room for the explorer in the screenshots: no bottom panel, its editor group maximised.
  await togglePanel(page);
  await runCommand(page, 'View: Toggle Maximize Editor Group');
  await page.waitForTimeout(500);
  const shot = await screenshot(page, 'cluster-explorer');
  const result = { columns, first_column: header.replace(/\s+/g, ' '), rows_drawn_with_arcs: parses, k, screenshot: shot };

  // − / + step k through the available ks.
  const plus = frame.locator('.kstep button[title="More clusters"]');
  if (await plus.isEnabled()) {
    await plus.click();
    await frame.locator('.kstep .k', { hasNotText: k }).waitFor({ timeout: 60_000 });
    result.k_after_plus = await frame.locator('.kstep .k').innerText();
    result.columns_after_plus = await frame.locator('section.cluster').count();
  }
  // Hovering a token highlights the tokens with the same POS+DEP.
  const commonKey = await frame.locator('body').evaluate(() => {
    const counts = new Map();
    document.querySelectorAll('svg.parse g.tok').forEach((token) => {
      const key = token.getAttribute('data-posdep');
      counts.set(key, (counts.get(key) || 0) + 1);
    });
    return [...counts].sort((a, b) => b[1] - a[1])[0][0];
  });
  await frame.locator(`svg.parse g.tok[data-posdep="${commonKey}"] text.word`).first().hover();
  result.hovered_pos_dep = commonKey;
  result.highlighted_tokens = await frame.locator('g.tok.hl').count();
  if (result.highlighted_tokens < 2) {
    throw new Error(`hovering a ${commonKey} token highlighted ${result.highlighted_tokens} tokens`);
  }
  result.screenshot_highlight = await screenshot(page, 'cluster-explorer-highlight');
  await runCommand(page, 'View: Toggle Maximize Editor Group');
  // Clicking a row opens it in the file, with its text selected.
  const row = frame.locator('.row').nth(1);
  const rowText = await row.locator('svg').getAttribute('aria-label');
  await row.click();
  await page.waitForTimeout(1000);
  const line = await cursorLine(page);
  const lines = fs.readFileSync(path.join(folders.workspace, SAMPLE), 'utf8').split('\n');
  result.clicked_row = Number(await row.getAttribute('data-row'));
  result.cursor_line_after_click = line;
  if (!line || !lines[line - 1].includes(rowText)) {
    throw new Error(`clicking the row "${rowText}" put the cursor on line ${line}: ${JSON.stringify(lines[(line || 1) - 1])}`);
  }
  await togglePanel(page);
  return result;
}

async function treeScenario({ page }) {
  await openSample(page);
  await page.keyboard.press('Control+Shift+E');
  const header = page.locator('.pane-header', { hasText: 'Lens Clusters' }).first();
  await header.waitFor({ state: 'visible', timeout: 20_000 });
  if ((await header.getAttribute('aria-expanded')) !== 'true') {
    await header.click();
  }
  const pane = page.locator('.pane', { has: header });
  const item = pane.locator('.monaco-list-row').first();
  await item.waitFor({ state: 'visible', timeout: 120_000 });
  const items = await pane.locator('.monaco-list-row').count();
  const first = (await item.innerText()).replace(/\s+/g, ' ');
  await item.click(); // reveals the cluster's first row
  await page.waitForTimeout(1000);
  const result = { items, first, cursor_line_after_click: await cursorLine(page), screenshot: await screenshot(page, 'cluster-tree') };
  // Its context menu shows all its rows in the references peek.
  await item.click({ button: 'right' });
  const menuItem = page.locator('.context-view .action-label', { hasText: 'Show All Rows' }).first();
  await menuItem.waitFor({ state: 'visible', timeout: 10_000 });
  // By keyboard: code-server's menus don't take Playwright's synthetic clicks.
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  result.references = await waitForReferencesPeek(page);
  result.screenshot_references = await screenshot(page, 'cluster-tree-references');
  await dismissWidgets(page);
  return result;
}

/** Waits for the references peek and returns how many rows its tree lists. */
async function waitForReferencesPeek(page) {
  const peek = page.locator('.peekview-widget').first();
  await peek.waitFor({ state: 'visible', timeout: 30_000 });
  const title = await peek.locator('.peekview-title').innerText();
  const count = /\((\d+)\)\s*$/.exec(title); // "… Locations (189)"
  if (!count || Number(count[1]) < 2) {
    throw new Error(`the references peek lists too few rows: ${title}`);
  }
  return title.replace(/\s+/g, ' ');
}

async function showRowsScenario({ page }) {
  await openSample(page);
  // The code lens above a dominant template's first row runs lens.showRows (the server's
  // command, with LSP locations), which the extension turns into the references peek.
  const lens = page.locator('.monaco-editor .codelens-decoration a', { hasText: /^Template T\d+: \d+ rows/ }).first();
  await lens.waitFor({ state: 'visible', timeout: 30_000 });
  const title = (await lens.innerText()).trim();
  await lens.click();
  const references = await waitForReferencesPeek(page);
  const shot = await screenshot(page, 'show-rows-references');
  await dismissWidgets(page);
  return { code_lens: title, references, screenshot: shot };
}

async function analyzeOnDiskScenario({ page }) {
  await openSample(page);
  const start = Date.now();
  await runCommand(page, 'Lens: Analyze File on Disk');
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: /Lens analysed music_requests\.csv: \d+ rows, \d+ findings/ }).first();
  await toast.waitFor({ state: 'visible', timeout: 120_000 });
  const message = (await toast.innerText()).replace(/\s+/g, ' ');
  const shot = await screenshot(page, 'analyze-on-disk');
  await dismissWidgets(page);
  return { message: message.slice(0, 200), seconds_to_result: Math.round((Date.now() - start) / 100) / 10, screenshot: shot };
}

/** The webview frame whose page matches `selector` (webviews are nested iframes). */
async function webviewFrame(page, selector, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      if (await frame.locator(selector).count().catch(() => 0)) {
        return frame;
      }
    }
    await page.waitForTimeout(500);
  }
  throw new Error(`no webview shows ${selector} within ${timeoutMs / 1000} s`);
}

/** Selects `length` characters of line `line` that end `gap` characters before its end. */
async function selectAnswer(page, line, gap, length) {
  const selection = page.locator('#status\\.editor\\.selection');
  for (let attempt = 1; ; attempt++) {
    await goToLine(page, line);
    await page.waitForTimeout(500); // keys sent while Go to Line closes are lost
    await page.keyboard.press('End');
    for (let i = 0; i < gap; i++) {
      await page.keyboard.press('ArrowLeft');
    }
    for (let i = 0; i < length; i++) {
      await page.keyboard.press('Shift+ArrowLeft');
    }
    // The status bar follows the selection after a moment.
    let status = '';
    for (let wait = 0; wait < 10; wait++) {
      await page.waitForTimeout(200);
      status = await selection.innerText();
      if (status.includes(`(${length} selected)`) && status.includes(`Ln ${line},`)) {
        return;
      }
    }
    if (attempt === 3) {
      throw new Error(`could not select the answer on line ${line}: the status bar says ${status}`);
    }
  }
}

async function attributionScenario({ page, folders }) {
  const answers = fs.readFileSync(path.join(folders.workspace, 'answers.md'), 'utf8').split('\n');
  const settings = JSON.parse(fs.readFileSync(path.join(folders.workspace, '.vscode', 'settings.json'), 'utf8'));
  const world = JSON.parse(fs.readFileSync(path.join(path.dirname(settings['lens.attribution.model']), 'world.json'), 'utf8'));
  const planted = new Set(world.planted.map((p) => p.row));
  // The first answer in answers.md is the model's answer to a planted question.
  const lineIndex = answers.findIndex((line) => line.startsWith('Answer: '));
  const answer = answers[lineIndex].slice('Answer: '.length).replace(/\.$/, '');

  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'answers.md' }).first().click();
  await page.locator('.tabs-container .tab.active', { hasText: 'answers.md' }).waitFor({ timeout: 30_000 });
  await selectAnswer(page, lineIndex + 1, answers[lineIndex].length - 'Answer: '.length - answer.length, answer.length);
  const start = Date.now();
  await runCommand(page, 'Lens: Attribute Selection');
  // The first request loads the model and builds the gradient store.
  const frame = await webviewFrame(page, 'article.card.supporting', FIRST_DIAGNOSTICS_TIMEOUT_MS);
  const firstAttributionS = Math.round((Date.now() - start) / 100) / 10;
  const first = frame.locator('article.card.supporting').first();
  const topRow = Number(await first.getAttribute('data-row'));
  const cards = await frame.locator('article.card').count();
  const cardText = (await first.innerText()).replace(/\s+/g, ' ');
  if (!planted.has(topRow)) {
    throw new Error(`the top supporting example is row ${topRow}, not a planted one (${[...planted]}): ${cardText.slice(0, 200)}`);
  }
  const result = { answer, top_supporting_row: topRow, planted_rows: [...planted], cards, first_card: cardText.slice(0, 200), first_attribution_s: firstAttributionS };
  await page.waitForTimeout(500);
  result.screenshot = await screenshot(page, 'attribution-panel');

  // In the document: a code lens above the attributed answer.
  const lens = page.locator('.monaco-editor .codelens-decoration', { hasText: /supporting/ }).first();
  await lens.waitFor({ state: 'visible', timeout: 30_000 });
  result.code_lens = (await lens.innerText()).trim();

  // "Open in training file" on the top card reveals its row.
  await first.locator('button.open').first().click();
  await page.locator('.tabs-container .tab.active', { hasText: 'train.jsonl' }).waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  const line = await cursorLine(page);
  const trainLines = fs.readFileSync(path.join(folders.workspace, 'train.jsonl'), 'utf8').split('\n');
  result.cursor_line_after_open = line;
  if (line !== topRow + 1) {
    throw new Error(`"Open in training file" put the cursor on line ${line}, not on row ${topRow} (line ${topRow + 1}): ${trainLines[(line || 1) - 1]}`);
  }
  // The training file's reverse view: the row says what it supported.
  const reverse = page.locator('.monaco-editor .codelens-decoration', { hasText: /supports/ }).first();
  await reverse.waitFor({ state: 'visible', timeout: 60_000 });
  result.reverse_code_lens = (await reverse.innerText()).trim().slice(0, 200);
  result.screenshot_training_file = await screenshot(page, 'attribution-training-file');
  return result;
}

async function restartScenario({ page, codeServer }) {
  const servers = processesInGroup(codeServer.pid, '-m server');
  if (servers.length !== 1) {
    throw new Error(`expected one Lens server process, found ${JSON.stringify(servers)}`);
  }
  const killed = servers[0].pid;
  process.kill(killed, 'SIGKILL');
  const start = Date.now();
  let restarted;
  while (!restarted && Date.now() - start < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    restarted = processesInGroup(codeServer.pid, '-m server').find((server) => server.pid !== killed);
  }
  if (!restarted) {
    throw new Error('the Lens server was not restarted within 60 s');
  }
  const restartS = Math.round((Date.now() - start) / 100) / 10;
  // The client re-opens the document in the new server, which analyses it again; its
  // row hover (which needs that analysis) shows that it is really back.
  await openSample(page);
  const hover = await hoverRow(page, 3, FIRST_DIAGNOSTICS_TIMEOUT_MS);
  return { killed_pid: killed, new_pid: restarted.pid, restart_s: restartS, hover_again_s: Math.round((Date.now() - start) / 100) / 10, hover: hover.slice(0, 120), screenshot: await screenshot(page, 'after-restart') };
}

const SCENARIOS = [
  ['diagnostics', diagnosticsScenario],
  ['hover', hoverScenario],
  ['quick-fix', quickFixScenario],
  ['show-rows', showRowsScenario],
  ['clusters', clustersScenario],
  ['tree', treeScenario],
  ['analyze-on-disk', analyzeOnDiskScenario],
  ['attribution', attributionScenario],
  ['restart', restartScenario],
];

/** Keeps the extension host's logs (the Lens output channel among them) as artifacts. */
function collectLogs(userData) {
  const logs = path.join(userData, 'logs');
  if (!fs.existsSync(logs)) {
    return;
  }
  const wanted = /(Lens|exthost|remoteexthost|renderer)\.log$/;
  const walk = (folder) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (wanted.test(entry.name)) {
        fs.copyFileSync(full, path.join(ARTIFACTS, `log-${entry.name}`));
      }
    }
  };
  walk(logs);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
