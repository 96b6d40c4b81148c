// The attribution results panel's page, without the vscode module: the extension
// (src/attribution/panel.ts) and the Chromium test (tests/e2e/attribution_panel.js)
// build the same page. media/attribution.js draws what the extension posts.

import { makeNonce, webviewPage } from '../webviewPage';

export interface AttributionAssets {
  cspSource: string;
  nonce: string;
  script: string; // media/attribution.js, as the webview may load it
  style: string; // media/attribution.css
}

/** The webview's page (strict CSP: see webviewPage). */
export function attributionHtml(assets: AttributionAssets): string {
  return webviewPage({
    cspSource: assets.cspSource,
    nonce: assets.nonce,
    title: 'Lens Attribution',
    styles: [assets.style],
    scripts: [assets.script],
    body: '<main id="root"><p class="message">Attributing…</p></main>',
  });
}

/** A fresh nonce for each page. */
export const attributionNonce = makeNonce;
