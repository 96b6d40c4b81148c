// @ts-check
// The cluster explorer webview's behaviour: draws what the extension sends (with
// render.js) and turns clicks into messages for the extension. No data is fetched
// here; the extension asks the language server and posts the result.
//
// Messages from the extension: { type: 'render', model } | { type: 'message', text }
// Messages to the extension:   { type: 'ready' } | { type: 'query', similarity?, k?, column? }
//                              | { type: 'openRow', row } | { type: 'showAll', cluster }

(function () {
  // @ts-ignore acquireVsCodeApi is provided by the webview host
  const vscode = acquireVsCodeApi();
  // @ts-ignore LensRender is set by render.js, loaded before this script
  const render = window.LensRender;
  const root = /** @type {HTMLElement} */ (document.getElementById('root'));
  /** @type {any} */
  let model = null;
  let compact = Boolean((vscode.getState() || {}).compact);
  /** @type {string | null} */
  let highlighted = null;

  function draw() {
    if (model) {
      root.innerHTML = render.renderExplorer({ ...model, compact });
      highlighted = null;
    }
  }

  window.addEventListener('message', (event) => {
    const message = event.data;
    if (message.type === 'render') {
      model = message.model;
      draw();
    } else if (message.type === 'message') {
      model = null;
      root.innerHTML = render.renderMessage(message.text);
    }
  });

  root.addEventListener('click', (event) => {
    const target = /** @type {Element} */ (event.target);
    const button = target.closest('[data-action]');
    if (button && button.tagName === 'BUTTON') {
      onButton(/** @type {HTMLButtonElement} */ (button));
      return;
    }
    const row = target.closest('.row');
    if (row) {
      vscode.postMessage({ type: 'openRow', row: Number(row.getAttribute('data-row')) });
    }
  });

  root.addEventListener('keydown', (event) => {
    const row = /** @type {Element} */ (event.target).closest('.row');
    if (row && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      vscode.postMessage({ type: 'openRow', row: Number(row.getAttribute('data-row')) });
    }
  });

  root.addEventListener('change', (event) => {
    const select = /** @type {HTMLSelectElement} */ (event.target);
    if (select.getAttribute('data-action') === 'column') {
      vscode.postMessage({ type: 'query', column: select.value });
    }
  });

  // Hovering a token highlights every token with the same POS and dependency label, in all clusters.
  root.addEventListener('mouseover', (event) => {
    const token = /** @type {Element} */ (event.target).closest('[data-posdep]');
    setHighlight(token ? token.getAttribute('data-posdep') : null);
  });
  root.addEventListener('mouseleave', () => setHighlight(null));

  /** @param {HTMLButtonElement} button */
  function onButton(button) {
    const action = button.getAttribute('data-action');
    const value = button.getAttribute('data-value');
    if (action === 'similarity' && value) {
      vscode.postMessage({ type: 'query', similarity: value });
    } else if (action === 'k' && value) {
      vscode.postMessage({ type: 'query', k: Number(value) });
    } else if (action === 'compact') {
      compact = !compact;
      vscode.setState({ compact });
      draw();
    } else if (action === 'show-all') {
      vscode.postMessage({ type: 'showAll', cluster: button.getAttribute('data-cluster') });
    }
  }

  /** @param {string | null} key */
  function setHighlight(key) {
    if (key === highlighted) {
      return;
    }
    root.querySelectorAll('.hl').forEach((element) => element.classList.remove('hl'));
    highlighted = key;
    root.classList.toggle('highlighting', key !== null);
    if (key !== null) {
      root.querySelectorAll(`[data-posdep="${CSS.escape(key)}"]`).forEach((element) => element.classList.add('hl'));
    }
  }

  vscode.postMessage({ type: 'ready' });
})();
