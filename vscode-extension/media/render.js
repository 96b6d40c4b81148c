// @ts-check
// The cluster explorer's drawing, as pure functions from data to HTML/SVG strings.
// It runs in the webview (as window.LensRender) and in Node's unit tests (as a
// CommonJS module), so it touches neither the DOM nor VS Code.
//
// What it draws follows LinguisticLens's main view: one column per cluster with its
// size and summary pattern, each row as POS-coloured tokens with dependency arcs, a
// similarity switch (POS / DEP / token / embedding) and − / + to step k.
// Colours come from CSS classes (pos-NOUN, …) so that the theme decides them, and the
// webview's content security policy forbids inline styles anyway.

(function (root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.LensRender = factory();
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** spaCy's coarse (Universal Dependencies) part-of-speech tags. */
  const POS_TAGS = [
    'ADJ', 'ADP', 'ADV', 'AUX', 'CCONJ', 'DET', 'INTJ', 'NOUN', 'NUM',
    'PART', 'PRON', 'PROPN', 'PUNCT', 'SCONJ', 'SYM', 'VERB', 'X', 'SPACE',
  ];

  const SIMILARITIES = [
    { id: 'pos', label: 'POS', title: 'Syntactic: part-of-speech n-grams' },
    { id: 'dep', label: 'DEP', title: 'Syntactic: dependency-label n-grams' },
    { id: 'token', label: 'Token', title: 'Lexical: word n-grams' },
    { id: 'embedding', label: 'Embedding', title: 'Semantic: sentence embeddings' },
  ];

  /** Sizes in pixels; the webview's stylesheet uses a monospace font of this width. */
  const LAYOUT = {
    charWidth: 7.8, // 13px monospace
    tagCharWidth: 6, // 10px monospace, the POS tag under each word
    tokenGap: 10,
    padding: 6,
    arcBase: 12, // height of an arc between neighbours
    arcStep: 9, // extra height per token of distance
    arcMax: 70,
    labelRoom: 12, // room above the highest arc for its dependency label
    wordHeight: 16,
    tagHeight: 14,
  };

  /** @param {unknown} value */
  function escapeHtml(value) {
    return String(value ?? '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;');
  }

  /** @param {string} pos */
  function posClass(pos) {
    return 'pos-' + (POS_TAGS.includes(pos) ? pos : 'X');
  }

  /** Tokens with the same key are highlighted together when one is hovered. */
  function posDepKey(token) {
    return token.pos + '|' + token.dep;
  }

  /**
   * The k one step (delta = −1 or +1) from `k` among the available `ks`, or undefined
   * at either end. A `k` that is not offered steps from the nearest one.
   * @param {number[]} ks @param {number} k @param {number} delta
   */
  function nextK(ks, k, delta) {
    const sorted = [...ks].sort((a, b) => a - b);
    if (sorted.length === 0) {
      return undefined;
    }
    let index = sorted.indexOf(k);
    if (index < 0) {
      index = sorted.reduce((best, value, i) => (Math.abs(value - k) < Math.abs(sorted[best] - k) ? i : best), 0);
      // Stepping from a k between two offered ones lands on the nearer one in that direction.
      if ((delta > 0 && sorted[index] > k) || (delta < 0 && sorted[index] < k)) {
        return sorted[index];
      }
    }
    return sorted[index + delta];
  }

  /** x position, width and centre of each token, left to right. */
  function layoutTokens(tokens, layout = LAYOUT) {
    let x = layout.padding;
    const boxes = tokens.map((token) => {
      const width = Math.max(token.text.length * layout.charWidth, token.pos.length * layout.tagCharWidth);
      const box = { x, width, center: x + width / 2 };
      x += width + layout.tokenGap;
      return box;
    });
    return { boxes, width: Math.max(x - layout.tokenGap + layout.padding, 2 * layout.padding) };
  }

  function arcHeight(distance, layout = LAYOUT) {
    return Math.min(layout.arcBase + (distance - 1) * layout.arcStep, layout.arcMax);
  }

  /**
   * One arc per token whose head is another token of the row (spaCy marks the root
   * as its own head), from the head down to the dependent, with an arrowhead there.
   */
  function dependencyArcs(tokens, boxes, baseline, layout = LAYOUT) {
    const arcs = [];
    tokens.forEach((token, index) => {
      const head = token.head;
      if (!Number.isInteger(head) || head === index || head < 0 || head >= tokens.length) {
        return;
      }
      const height = arcHeight(Math.abs(head - index), layout);
      // Start and end a little off-centre so arcs meeting at one word don't overlap.
      const from = boxes[head].center + (index < head ? -2 : 2);
      const to = boxes[index].center;
      const lift = (height * 4) / 3; // a cubic Bézier peaks at 3/4 of its control height
      arcs.push({
        from: head,
        to: index,
        dep: token.dep,
        height,
        path: `M${round(from)},${baseline} C${round(from)},${round(baseline - lift)} ${round(to)},${round(baseline - lift)} ${round(to)},${baseline}`,
        arrow: `${round(to - 3)},${baseline - 5} ${round(to + 3)},${baseline - 5} ${round(to)},${baseline}`,
        labelX: round((from + to) / 2),
        labelY: round(baseline - height - 3),
      });
    });
    return arcs;
  }

  function round(value) {
    return Math.round(value * 10) / 10;
  }

  /** A row as SVG: arcs on top, then the words coloured by POS, their tags beneath. */
  function renderRowSvg(row, layout = LAYOUT) {
    const tokens = row.tokens || [];
    const { boxes, width } = layoutTokens(tokens, layout);
    const highest = tokens.reduce((top, token, index) => {
      const distance = Math.abs(token.head - index);
      return token.head === index || !Number.isInteger(token.head) ? top : Math.max(top, arcHeight(distance, layout));
    }, 0);
    const baseline = highest + layout.labelRoom;
    const wordY = baseline + layout.wordHeight - 3;
    const tagY = wordY + layout.tagHeight;
    const height = tagY + 4;
    const arcs = dependencyArcs(tokens, boxes, baseline, layout)
      .map((arc) =>
        `<g class="arc" data-posdep="${escapeHtml(posDepKey(tokens[arc.to]))}">` +
        `<path d="${arc.path}"/><polygon points="${arc.arrow}"/>` +
        `<text class="dep" x="${arc.labelX}" y="${arc.labelY}">${escapeHtml(arc.dep)}</text></g>`)
      .join('');
    const words = tokens
      .map((token, index) => {
        const center = round(boxes[index].center);
        return `<g class="tok ${posClass(token.pos)}${token.head === index ? ' root' : ''}" data-posdep="${escapeHtml(posDepKey(token))}">` +
          `<title>${escapeHtml(token.text)} · ${escapeHtml(token.pos)} · ${escapeHtml(token.dep)}</title>` +
          `<text class="word" x="${center}" y="${wordY}">${escapeHtml(token.text)}</text>` +
          `<text class="tag" x="${center}" y="${tagY}">${escapeHtml(token.pos)}</text></g>`;
      })
      .join('');
    return `<svg class="parse" width="${round(width)}" height="${height}" viewBox="0 0 ${round(width)} ${height}" role="img" aria-label="${escapeHtml(row.text)}">${arcs}${words}</svg>`;
  }

  /** A row as coloured words only (the compact mode, like LinguisticLens's thumbnails). */
  function renderRowCompact(row) {
    const tokens = row.tokens || [];
    if (tokens.length === 0) {
      return `<span class="plain">${escapeHtml(row.text)}</span>`;
    }
    return tokens
      .map((token) => `<span class="tok ${posClass(token.pos)}" data-posdep="${escapeHtml(posDepKey(token))}" title="${escapeHtml(token.pos)} · ${escapeHtml(token.dep)}">${escapeHtml(token.text)}</span>`)
      .join(' ');
  }

  function renderRow(row, compact) {
    const line = row.range ? row.range.start.line + 1 : undefined;
    const body = compact || !(row.tokens && row.tokens.length) ? renderRowCompact(row) : renderRowSvg(row);
    return `<div class="row${compact ? ' compact' : ''}" data-row="${row.row}" tabindex="0" role="button" ` +
      `title="Row ${row.row}${line ? ', line ' + line : ''}: click to open it in the file">${body}</div>`;
  }

  /**
   * A summary pattern as chips: words as they are, POS slots (NOUN, VERB, …) in their
   * colour, gaps (*, …, _) as a gap chip.
   * @param {string | string[] | null | undefined} pattern
   */
  function renderPattern(pattern) {
    if (!pattern || (Array.isArray(pattern) && pattern.length === 0)) {
      return '';
    }
    const parts = Array.isArray(pattern) ? pattern : String(pattern).split(/\s+/).filter(Boolean);
    const chips = parts.map((part) => {
      if (POS_TAGS.includes(part)) {
        return `<span class="chip slot ${posClass(part)}">${escapeHtml(part)}</span>`;
      }
      if (part === '*' || part === '…' || part === '...' || part === '_') {
        return '<span class="chip gap">…</span>';
      }
      return `<span class="chip word">${escapeHtml(part)}</span>`;
    });
    return `<div class="pattern">${chips.join('')}</div>`;
  }

  function renderCluster(cluster, rowsByIndex, total, compact) {
    const shown = cluster.rows.map((index) => rowsByIndex.get(index)).filter(Boolean);
    const share = total > 0 ? ` · ${Math.round((cluster.size / total) * 1000) / 10}%` : '';
    const support = cluster.support != null ? `<span class="support">support ${Math.round(cluster.support * 100)}%</span>` : '';
    const more = cluster.size - shown.length;
    return `<section class="cluster" data-cluster="${escapeHtml(cluster.id)}">` +
      `<header><span class="size">${cluster.size} rows</span><span class="share">${share}</span>${support}</header>` +
      renderPattern(cluster.pattern) +
      `<div class="rows">${shown.map((row) => renderRow(row, compact)).join('')}</div>` +
      `<footer>${more > 0 ? `<span>${more} more</span>` : ''}` +
      `<button class="link" data-action="show-all" data-cluster="${escapeHtml(cluster.id)}" title="All rows of this cluster in the references peek">Show all rows</button></footer>` +
      '</section>';
  }

  function renderToolbar(model) {
    const result = model.clusters;
    const available = new Set(result.similarities);
    const switchButtons = SIMILARITIES.map((similarity) =>
      `<button data-action="similarity" data-value="${similarity.id}" title="${escapeHtml(similarity.title)}" ` +
      `aria-pressed="${similarity.id === result.similarity}"${available.has(similarity.id) ? '' : ' disabled'}>${similarity.label}</button>`,
    ).join('');
    const lower = nextK(result.ks, result.k, -1);
    const higher = nextK(result.ks, result.k, +1);
    const stepButton = (k, label, title) =>
      `<button data-action="k" ${k === undefined ? 'disabled' : `data-value="${k}"`} title="${title}">${label}</button>`;
    const columns = result.columns.length > 1
      ? `<label>Column <select data-action="column">${result.columns
        .map((column) => `<option value="${escapeHtml(column)}"${column === result.column ? ' selected' : ''}>${escapeHtml(column)}</option>`)
        .join('')}</select></label>`
      : `<span class="column">${escapeHtml(result.column)}</span>`;
    return '<div class="toolbar">' +
      `<span class="file">${escapeHtml(model.fileName || '')}</span>${columns}` +
      `<div class="switch" role="group" aria-label="Similarity">${switchButtons}</div>` +
      `<div class="kstep" role="group" aria-label="Number of clusters">${stepButton(lower, '−', 'Fewer clusters')}` +
      `<span class="k">k = ${result.k}</span>${stepButton(higher, '+', 'More clusters')}</div>` +
      `<button data-action="compact" aria-pressed="${!!model.compact}" title="Words only, without dependency arcs">Compact</button>` +
      '</div>';
  }

  function renderLegend(rows) {
    const used = new Set();
    rows.forEach((row) => (row.tokens || []).forEach((token) => used.add(token.pos)));
    const tags = POS_TAGS.filter((tag) => used.has(tag));
    if (tags.length === 0) {
      return '';
    }
    return `<div class="legend">${tags.map((tag) => `<span class="chip slot ${posClass(tag)}">${tag}</span>`).join('')}</div>`;
  }

  /**
   * The whole view.
   * @param {{ fileName?: string, compact?: boolean,
   *           clusters: { column: string, columns: string[], similarities: string[], ks: number[],
   *                       similarity: string, k: number, cut: { clusters: any[] } },
   *           rows: any[] }} model
   */
  function renderExplorer(model) {
    const rowsByIndex = new Map(model.rows.map((row) => [row.row, row]));
    const clusters = model.clusters.cut.clusters;
    const total = clusters.reduce((sum, cluster) => sum + cluster.size, 0);
    const columns = clusters.length
      ? clusters.map((cluster) => renderCluster(cluster, rowsByIndex, total, !!model.compact)).join('')
      : '<p class="message">No clusters for this similarity and k.</p>';
    return renderToolbar(model) + renderLegend(model.rows) + `<div class="columns">${columns}</div>`;
  }

  function renderMessage(text) {
    return `<p class="message">${escapeHtml(text)}</p>`;
  }

  return {
    POS_TAGS,
    SIMILARITIES,
    LAYOUT,
    escapeHtml,
    posClass,
    posDepKey,
    nextK,
    layoutTokens,
    arcHeight,
    dependencyArcs,
    renderRowSvg,
    renderRowCompact,
    renderRow,
    renderPattern,
    renderCluster,
    renderToolbar,
    renderLegend,
    renderExplorer,
    renderMessage,
  };
});
