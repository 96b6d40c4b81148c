// The attribution results panel's page, without the vscode module: the extension
// (src/attribution/panel.ts) and the Chromium test (tests/e2e/attribution_panel.js)
// build the same page. media/attribution.js draws what the extension posts.

import { randomBytes } from 'crypto';

export interface AttributionAssets {
  cspSource: string;
  nonce: string;
  script: string; // media/attribution.js, as the webview may load it
  style: string; // media/attribution.css
}

/**
 * The webview's page. The content security policy allows nothing by default: scripts only
 * with this page's nonce, styles, images and fonts only from the extension's media folder
 * (no inline styles, so the script colours things with classes and SVG attributes).
 */
export function attributionHtml(assets: AttributionAssets): string {
  const csp = [
    "default-src 'none'",
    `style-src ${assets.cspSource}`,
    `img-src ${assets.cspSource}`,
    `font-src ${assets.cspSource}`,
    `script-src 'nonce-${assets.nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${assets.style}">
<title>Lens Attribution</title>
</head>
<body>
<main id="root"><p class="message">Attributing…</p></main>
<script nonce="${assets.nonce}" src="${assets.script}"></script>
</body>
</html>`;
}

/** A fresh nonce for each page (base64 letters and digits only, 24 characters). */
export function attributionNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}
