#!/usr/bin/env node
// The attribution results panel in Chromium, without VS Code: the page the extension
// gives its webview (attributionHtml from vscode-extension/src/attribution/panelHtml.ts,
// transpiled here from the source), with file:// URLs for media/attribution.js and
// attribution.css, the same strict content security policy, a stand-in for the webview's
// acquireVsCodeApi that records what the page posts and keeps its state in
// sessionStorage, and VS Code's Dark+ theme variables set on <html> as the webview sets
// them. The saved server answers (tests/fixtures/attribution/*.json) are posted as the
// extension posts them. Scenarios:
//   attribution  supporting and opposing cards in the fixture's order, the histogram's bins,
//                token highlighting, keywords, the other rankings
//   linking      hovering a card lights its bin and marker; hovering a bin lights its cards;
//                focusing a card does what hovering does
//   expand-open  a card expands to every field and its file location; "Open in training
//                file" posts the card's location
//   compare      the compare view: both texts side by side, each with its own histogram,
//                cards and keywords, the diff marked, the "favour" lists
//   state        a reloaded page (a panel hidden and shown again) draws from its saved state
//                and says 'ready' again
//   render-time  median of 5 renders of each fixture (HTML built, DOM set, style and layout)
// No console errors, page errors or CSP violations are allowed in any scenario.
// Screenshots: test-artifacts/panel/attribution-panel.png, attribution-compare.png;
// summary: test-artifacts/panel/attribution-summary.json. Exit status 0 when all passed.
//
//   node tests/e2e/attribution_panel.js [--fixtures DIR] [--theme dark|light] [--full-page]
// --theme light draws without VS Code's variables (the stylesheet's own light fallbacks) and
// names the screenshots attribution-*-light.png; --full-page screenshots the whole page.
// Needs Chromium (/usr/bin/chromium, or LENS_E2E_CHROMIUM), playwright-core in
// tests/e2e/node_modules and TypeScript in vscode-extension/node_modules
// (bash scripts/setup_e2e.sh installs all three).

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const EXTENSION = path.join(REPO, 'vscode-extension');
const ARTIFACTS = path.join(REPO, 'test-artifacts', 'panel');
const CHROMIUM = process.env.LENS_E2E_CHROMIUM || '/usr/bin/chromium';
const args = process.argv.slice(2);
const fixturesArg = args.indexOf('--fixtures');
const FIXTURES = fixturesArg >= 0 ? path.resolve(args[fixturesArg + 1]) : path.join(REPO, 'tests', 'fixtures', 'attribution');
const themeArg = args.indexOf('--theme');
const THEME = themeArg >= 0 ? args[themeArg + 1] : 'dark';
const FULL_PAGE = args.includes('--full-page');
const SUFFIX = THEME === 'dark' ? '' : `-${THEME}`;
const RENDERS = 5;
const VIEWPORT = { width: 1400, height: 900 };

/** VS Code's Default Dark+ theme, as the webview host sets it on <html>. */
const DARK_THEME = {
  '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
  '--vscode-foreground': '#cccccc',
  '--vscode-editor-foreground': '#d4d4d4',
  '--vscode-editor-background': '#1e1e1e',
  '--vscode-descriptionForeground': 'rgba(204, 204, 204, 0.7)',
  '--vscode-panel-border': 'rgba(128, 128, 128, 0.35)',
  '--vscode-widget-border': '#303031',
  '--vscode-editorWidget-background': '#252526',
  '--vscode-sideBar-background': '#252526',
  '--vscode-list-hoverBackground': '#2a2d2e',
  '--vscode-focusBorder': '#007fd4',
  '--vscode-textLink-foreground': '#3794ff',
  '--vscode-button-background': '#0e639c',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-button-hoverBackground': '#1177bb',
  '--vscode-button-secondaryBackground': '#3a3d41',
  '--vscode-button-secondaryForeground': '#ffffff',
  '--vscode-button-secondaryHoverBackground': '#45494e',
  '--vscode-badge-background': '#4d4d4d',
  '--vscode-badge-foreground': '#ffffff',
  '--vscode-charts-foreground': '#cccccc',
  '--vscode-charts-red': '#f14c4c',
  '--vscode-charts-green': '#89d185',
  '--vscode-charts-blue': '#3794ff',
  '--vscode-charts-yellow': '#cca700',
  '--vscode-charts-orange': '#d18616',
  '--vscode-charts-purple': '#b180d7',
};

const log = (...parts) => console.error(`[attribution-panel ${new Date().toISOString().slice(11, 19)}]`, ...parts);

/** attributionHtml and attributionNonce, transpiled from the extension's source (no vscode import). */
function loadPanelHtml() {
  return loadTypeScript(path.join(EXTENSION, 'src', 'attribution', 'panelHtml.ts'));
}

/** A TypeScript module and the relative modules it imports, transpiled to CommonJS in memory. */
function loadTypeScript(file) {
  const ts = require(path.join(EXTENSION, 'node_modules', 'typescript'));
  const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    fileName: file,
  });
  const module = { exports: {} };
  const load = (name) => (name.startsWith('.') ? loadTypeScript(path.resolve(path.dirname(file), `${name}.ts`)) : require(name));
  new Function('module', 'exports', 'require', outputText)(module, module.exports, load);
  return module.exports;
}

/** What runs in the page before its own script: the webview API stand-in, the theme, a CSP listener. */
function initScript(theme) {
  window.__posted = [];
  window.__cspViolations = [];
  window.acquireVsCodeApi = () => ({
    postMessage: (message) => window.__posted.push(JSON.parse(JSON.stringify(message))),
    getState: () => JSON.parse(sessionStorage.getItem('vscode-state') || 'null'),
    setState: (state) => sessionStorage.setItem('vscode-state', JSON.stringify(state)),
  });
  document.addEventListener('securitypolicyviolation', (event) => {
    window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
  });
  const applyTheme = () => {
    for (const [name, value] of Object.entries(theme)) {
      document.documentElement.style.setProperty(name, value);
    }
    if (document.body && Object.keys(theme).length) {
      document.body.classList.add('vscode-dark');
    }
  };
  if (document.documentElement) {
    applyTheme();
  }
  document.addEventListener('DOMContentLoaded', applyTheme);
}

/** The same bin rule as numpy.histogram (and media/attribution.js): the last bin includes 1.0. */
function binOf(value, edges) {
  for (let i = 0; i < edges.length - 1; i++) {
    if (value < edges[i + 1]) {
      return i;
    }
  }
  return edges.length - 2;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const round1 = (value) => Math.round(value * 10) / 10;

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const summary = { started: new Date().toISOString(), fixtures: path.relative(REPO, FIXTURES), scenarios: {}, render_ms: {} };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-attribution-panel-'));
  let browser;
  try {
    for (const [file, what] of [[CHROMIUM, 'chromium (bash scripts/setup_e2e.sh)']]) {
      if (!fs.existsSync(file)) {
        throw new Error(`missing: ${what}`);
      }
    }
    const attribution = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'attribution_view.json'), 'utf8'));
    const compare = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'compare_view.json'), 'utf8'));
    const { attributionHtml, attributionNonce } = loadPanelHtml();
    const media = path.join(EXTENSION, 'media');
    const page = path.join(work, 'panel.html');
    fs.writeFileSync(page, attributionHtml({
      cspSource: 'file:',
      nonce: attributionNonce(),
      script: pathToFileURL(path.join(media, 'attribution.js')).href,
      style: pathToFileURL(path.join(media, 'attribution.css')).href,
    }));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, colorScheme: THEME === 'dark' ? 'dark' : 'light' });
    const tab = await context.newPage();
    const problems = [];
    tab.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        problems.push(`console ${message.type()}: ${message.text()}`);
      }
    });
    tab.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await tab.addInitScript(initScript, THEME === 'dark' ? DARK_THEME : {});
    await tab.goto(pathToFileURL(page).href);
    await tab.waitForFunction(() => window.__posted.some((message) => message.type === 'ready'), null, { timeout: 10_000 });

    const ctx = { tab, attribution, compare, problems };
    for (const [name, scenario] of SCENARIOS) {
      summary.scenarios[name] = await runScenario(name, scenario, ctx, summary);
    }
  } catch (error) {
    summary.error = String(error && error.stack ? error.stack : error);
    log('failed:', summary.error);
  } finally {
    if (browser) {
      await browser.close().catch(() => {});
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
  summary.passed = !summary.error && Object.keys(summary.scenarios).length === SCENARIOS.length
    && Object.values(summary.scenarios).every((result) => result.passed);
  fs.writeFileSync(path.join(ARTIFACTS, `attribution-summary${SUFFIX}.json`), JSON.stringify(summary, null, 2));
  console.log(JSON.stringify(summary, null, 2));
  if (summary.render_ms.attribution) {
    log(`render time, median of ${RENDERS}: attribution ${summary.render_ms.attribution.median} ms ` +
      `(HTML ${summary.render_ms.attribution.html_median} ms), compare ${summary.render_ms.compare ? summary.render_ms.compare.median : '?'} ms ` +
      `(HTML ${summary.render_ms.compare ? summary.render_ms.compare.html_median : '?'} ms)`);
  }
  process.exitCode = summary.passed ? 0 : 1;
}

async function runScenario(name, scenario, ctx, summary) {
  log(`scenario ${name}`);
  const start = Date.now();
  const result = { passed: false };
  const problemsBefore = ctx.problems.length;
  try {
    Object.assign(result, await scenario(ctx, summary));
    const violations = await ctx.tab.evaluate(() => window.__cspViolations.splice(0));
    const problems = [...ctx.problems.slice(problemsBefore), ...violations.map((violation) => `CSP violation: ${violation}`)];
    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
    result.passed = true;
  } catch (error) {
    result.error = String(error && error.message ? error.message : error);
    log(`scenario ${name} failed: ${result.error}`);
    await ctx.tab.screenshot({ path: path.join(ARTIFACTS, `attribution-${name}-failure.png`) }).catch(() => {});
  }
  result.seconds = Math.round((Date.now() - start) / 100) / 10;
  return result;
}

/** Posts a message as the extension does and waits until the page has drawn it; returns its timings. */
async function post(tab, message) {
  return tab.evaluate((data) => new Promise((resolve) => {
    const root = document.getElementById('root');
    const posted = performance.now();
    root.addEventListener('lens-rendered', (event) => {
      const drawn = performance.now();
      // Until the next frame has been produced: what the user waits for.
      requestAnimationFrame(() => setTimeout(() => resolve({ ...event.detail, queuedMs: drawn - posted, toFrameMs: performance.now() - posted })));
    }, { once: true });
    window.postMessage(data, '*');
  }), message);
}

async function attrs(tab, selector, name) {
  return tab.$$eval(selector, (elements, attribute) => elements.map((element) => element.getAttribute(attribute)), name);
}

async function classesOf(tab, selector) {
  return tab.$eval(selector, (element) => [...element.classList]);
}

async function checkResult(tab, result, scope) {
  const within = scope === 'main' ? '' : `.cmp-detail[data-side="${scope}"] `;
  for (const side of ['supporting', 'opposing']) {
    const rows = (await attrs(tab, `${within}.list.${side} .card`, 'data-row')).map(Number);
    assert.deepEqual(rows, result[side].map((example) => example.row), `${scope} ${side} cards in the result's order`);
    const bins = (await attrs(tab, `${within}.list.${side} .card`, 'data-bin')).map(Number);
    assert.deepEqual(bins, result[side].map((example) => binOf(example.normalized, result.histogram.edges)), `${scope} ${side} cards' bins`);
  }
  const counts = (await attrs(tab, `${within}.histogram .bin`, 'data-count')).map(Number);
  assert.deepEqual(counts, result.histogram.counts, `${scope}: one histogram bin per count`);
  const markers = await tab.$$(`${within}.histogram .marker`);
  assert.equal(markers.length, result.supporting.length + result.opposing.length, `${scope}: a marker per card`);
  const keywords = await tab.$$(`${within}.kw-summary .kw:not(.none)`);
  assert.equal(keywords.length, result.keywords.supporting.length + result.keywords.opposing.length, `${scope}: keyword chips`);
  if (result.baselines) {
    assert.equal((await tab.$$(`${within}.baseline.bm25 tbody tr.brow`)).length, result.baselines.bm25.length, `${scope}: BM25 rows`);
    assert.equal((await tab.$$(`${within}.baseline.exact tbody tr.brow`)).length, result.baselines.exact.length, `${scope}: exact-span rows`);
  }
  return { cards: result.supporting.length + result.opposing.length, bins: counts.length, keywords: keywords.length };
}

const SCENARIOS = [
  ['attribution', async ({ tab, attribution }) => {
    await post(tab, { type: 'attribution', view: attribution });
    const result = attribution.result;
    const checked = await checkResult(tab, result, 'main');
    const text = await tab.$eval('.text[data-scope="main"]', (element) => element.textContent);
    assert.equal(text, result.text, 'the text, whole and unchanged');
    let coloured = 0;
    if (result.token_level) {
      coloured = (await tab.$$('.text[data-scope="main"] .seg.tok[class*="c-"]')).length;
      assert.ok(coloured > 0, 'tokens coloured by their contributions');
    }
    const selected = (await tab.$$('.text[data-scope="main"] .seg.sel')).length;
    assert.ok(selected > 0, 'the attributed span marked');
    const header = await tab.$eval('.summary', (element) => element.textContent);
    assert.match(header, new RegExp(`${result.checkpoints.length}`), 'checkpoint count in the header');
    assert.match(header, /ms/);
    const prompt = await tab.$eval('.prompt-text', (element) => element.textContent);
    assert.equal(prompt, attribution.prompt);
    const agreement = await tab.$eval('.card .agree', (element) => element.textContent);
    assert.match(agreement, /checkpoint/);
    return { ...checked, coloured_tokens: coloured, selected_segments: selected, token_level: !!result.token_level };
  }],

  ['linking', async ({ tab, attribution }) => {
    const result = attribution.result;
    const first = '.card[data-key="main:supporting:0"]';
    await tab.hover(`${first} .card-head .rank`);
    const bin = Number(await tab.getAttribute(first, 'data-bin'));
    const lit = (await attrs(tab, '.histogram .bin.lit', 'data-bin')).map(Number);
    assert.deepEqual(lit, [bin], 'hovering a card lights its bin, and only it');
    assert.ok((await classesOf(tab, '[data-marker="main:supporting:0"]')).includes('lit'), "and its marker");
    let recoloured = null;
    if (result.token_level && result.token_level.rows.includes(result.supporting[0].row)) {
      const mode = await tab.$eval('.legend-mode', (element) => element.textContent);
      assert.equal(mode, `row ${result.supporting[0].row + 1} alone`, "the text coloured by the card's own contributions");
      recoloured = true;
    }
    await tab.screenshot({ path: path.join(ARTIFACTS, `attribution-panel${SUFFIX}.png`), fullPage: FULL_PAGE });

    // A bin that holds cards (the opposing example's, else the supporting one's).
    const target = result.opposing.length ? result.opposing[0] : result.supporting[0];
    const targetBin = binOf(target.normalized, result.histogram.edges);
    await tab.mouse.move(5, 5);
    await tab.hover(`.histogram .bin[data-bin="${targetBin}"] .hit`, { force: true });
    const expected = ['supporting', 'opposing'].flatMap((side) => result[side]
      .map((example, index) => (binOf(example.normalized, result.histogram.edges) === targetBin ? `main:${side}:${index}` : null))
      .filter(Boolean));
    const litCards = await attrs(tab, '.card.lit', 'data-key');
    assert.deepEqual(litCards.sort(), expected.sort(), 'hovering a bin lights the cards in it');
    assert.deepEqual((await tab.getAttribute(`.histogram .bin[data-bin="${targetBin}"]`, 'data-cards')).split(' ').sort(), expected.sort());

    // Keyboard: focusing a card lights its bin like hovering.
    await tab.mouse.move(5, 5);
    await tab.focus('.card[data-key="main:supporting:0"]');
    assert.deepEqual((await attrs(tab, '.histogram .bin.lit', 'data-bin')).map(Number), [bin], 'focus lights the bin too');
    await tab.evaluate(() => document.activeElement && document.activeElement.blur());
    assert.equal((await tab.$$('.lit')).length, 0, 'nothing stays lit');
    return { card_bin: bin, bin_hovered: targetBin, cards_lit_by_bin: expected.length, tokens_recoloured: recoloured, screenshot: `test-artifacts/panel/attribution-panel${SUFFIX}.png` };
  }],

  ['expand-open', async ({ tab, attribution }) => {
    const example = attribution.result.supporting[0];
    const card = '.card[data-key="main:supporting:0"]';
    assert.equal(await tab.isVisible(`${card} .details`), false, 'collapsed at first');
    await tab.click(`${card} [data-action="toggle"]`);
    assert.equal(await tab.isVisible(`${card} .details`), true, 'expanded');
    assert.equal(await tab.getAttribute(`${card} [data-action="toggle"]`, 'aria-expanded'), 'true');
    const body = await tab.$eval(card, (element) => element.textContent);
    for (const value of Object.values(example.fields)) {
      assert.ok(body.includes(String(value)), `the whole field is shown: ${String(value).slice(0, 40)}`);
    }
    const where = await tab.$eval(`${card} .details .where`, (element) => element.textContent);
    assert.match(where, new RegExp(`line ${example.location.range.start.line + 1}\\b`), 'the file location');
    await tab.evaluate(() => window.__posted.splice(0));
    await tab.click(`${card} [data-action="open"]`);
    const posted = await tab.evaluate(() => window.__posted.splice(0));
    assert.deepEqual(posted, [{ type: 'open', location: example.location }], '"Open in training file" posts the location');
    let baselineOpened = null;
    const bm25 = attribution.result.baselines && attribution.result.baselines.bm25[0];
    if (bm25) {
      await tab.click('.baseline.bm25 tbody tr.brow [data-action="open"]');
      baselineOpened = await tab.evaluate(() => window.__posted.splice(0));
      assert.deepEqual(baselineOpened, [{ type: 'open', location: bm25.location }], 'a BM25 row opens its location');
    }
    await tab.click(`${card} [data-action="toggle"]`);
    assert.equal(await tab.isVisible(`${card} .details`), false, 'collapsed again');
    await tab.focus(card);
    await tab.keyboard.press('Enter');
    assert.equal(await tab.isVisible(`${card} .details`), true, 'Enter on a focused card expands it');
    await tab.keyboard.press('Enter');
    assert.equal(await tab.isVisible(`${card} .details`), false, 'and collapses it');
    await tab.evaluate(() => document.activeElement && document.activeElement.blur());
    return { fields: Object.keys(example.fields).length, location: where.trim(), baseline_open: !!baselineOpened };
  }],

  ['compare', async ({ tab, compare }) => {
    await post(tab, { type: 'compare', view: compare });
    const boxes = {};
    for (const side of ['model', 'user']) {
      boxes[side] = await (await tab.$(`.cmp-text[data-side="${side}"]`)).boundingBox();
      const text = await tab.$eval(`.cmp-text[data-side="${side}"] .text`, (element) => element.textContent);
      assert.equal(text, compare.compare[`${side}_text`], `the ${side}'s text`);
    }
    assert.ok(boxes.model.x + boxes.model.width <= boxes.user.x, 'model left of user');
    assert.ok(Math.abs(boxes.model.y - boxes.user.y) < 2, 'side by side, on one line');
    const details = {};
    for (const side of ['model', 'user']) {
      details[side] = await checkResult(tab, compare.compare[side], side);
      const detailBox = await (await tab.$(`.cmp-detail[data-side="${side}"]`)).boundingBox();
      assert.ok(Math.abs(detailBox.x - boxes[side].x) < 2, `the ${side}'s lists under its text`);
    }
    const changed = compare.compare.diff.filter((part) => part.op !== 'equal').length;
    const diffSegments = (await tab.$$('.cmp-text .seg.diff')).length;
    if (changed) {
      assert.ok(diffSegments > 0, 'the word diff marked');
    }
    assert.equal((await tab.$$('.favour.model .favour-item')).length, compare.compare.favour_model.length);
    assert.equal((await tab.$$('.favour.user .favour-item')).length, compare.compare.favour_user.length);
    // Each side's histogram links to its own cards only.
    const userCard = compare.compare.user.supporting.length ? '.card[data-key="user:supporting:0"]' : null;
    if (userCard) {
      await tab.hover(`${userCard} .card-head .rank`);
      const litBins = await attrs(tab, '.bin.lit', 'data-bin-key');
      assert.ok(litBins.length === 1 && litBins[0].startsWith('user:'), `a user card lights a user bin (${litBins})`);
      await tab.mouse.move(5, 5);
    }
    await tab.evaluate(() => window.scrollTo(0, 0));
    if (compare.compare.favour_model.length) {
      await tab.hover('.favour.model .favour-item .rowno');
    }
    await tab.screenshot({ path: path.join(ARTIFACTS, `attribution-compare${SUFFIX}.png`), fullPage: FULL_PAGE });
    await tab.mouse.move(5, 5);
    return { model_box: boxes.model, user_box: boxes.user, diff_segments: diffSegments, model: details.model, user: details.user, screenshot: `test-artifacts/panel/attribution-compare${SUFFIX}.png` };
  }],

  ['state', async ({ tab, compare }) => {
    await tab.reload();
    await tab.waitForSelector('.view.compare', { timeout: 10_000 });
    const id = await tab.getAttribute('.view.compare', 'data-view');
    assert.equal(id, compare.id, 'drawn again from the saved state, before any message');
    await tab.waitForFunction(() => window.__posted.some((message) => message.type === 'ready'), null, { timeout: 10_000 });
    return { redrawn_from_state: true };
  }],

  ['render-time', async ({ tab, attribution, compare }, summary) => {
    for (const [kind, view] of [['attribution', attribution], ['compare', compare]]) {
      const runs = [];
      for (let i = 0; i < RENDERS; i++) {
        // A new id each time: a fresh view, as a new result would be.
        runs.push(await post(tab, { type: kind, view: { ...view, id: `${view.id}-render-${i}` } }));
      }
      summary.render_ms[kind] = {
        median: round1(median(runs.map((run) => run.totalMs))),
        html_median: round1(median(runs.map((run) => run.htmlMs))),
        to_frame_median: round1(median(runs.map((run) => run.toFrameMs))),
        runs: runs.map((run) => round1(run.totalMs)),
        elements: await tab.evaluate(() => document.getElementById('root').querySelectorAll('*').length),
      };
    }
    return { ...summary.render_ms };
  }],
];

main();
