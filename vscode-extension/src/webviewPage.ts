// The page every Lens webview starts from (the cluster explorer, the attribution panel):
// a strict content security policy, the extension's own styles and scripts, nothing else.
// No vscode import, so tests can build the same page outside the editor.

import { randomBytes } from 'crypto';

export interface WebviewPage {
  cspSource: string;
  nonce: string;
  title: string;
  styles: string[]; // URIs the webview may load, from the extension's media folder
  scripts: string[];
  body: string; // trusted markup: the page's placeholder before its script draws
}

/**
 * Nothing is allowed by default: scripts only with this page's nonce; styles, images and
 * fonts only from the extension's media folder (no inline styles, so scripts colour
 * things with classes and SVG attributes).
 */
export function webviewPage(page: WebviewPage): string {
  const csp = [
    "default-src 'none'",
    `style-src ${page.cspSource}`,
    `img-src ${page.cspSource}`,
    `font-src ${page.cspSource}`,
    `script-src 'nonce-${page.nonce}'`,
  ].join('; ');
  const styles = page.styles.map((href) => `<link rel="stylesheet" href="${href}">`).join('\n');
  const scripts = page.scripts.map((src) => `<script nonce="${page.nonce}" src="${src}"></script>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${styles}
<title>${page.title}</title>
</head>
<body>
${page.body}
${scripts}
</body>
</html>`;
}

/** A fresh nonce for each page (base64 letters and digits only, 24 characters). */
export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}
