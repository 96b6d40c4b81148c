// @ts-check
// The attribution results panel: draws a `lens/attribute` answer (AttributionView) or a
// `lens/compare` answer (CompareView), as src/attribution/protocol.ts types them, and
// links its parts: hovering (or focusing) a card lights its bin in the score histogram,
// its marker and its row in the other rankings, and colours the text's tokens by that
// example's contributions; hovering a bin lights the cards whose scores fall in it.
//
// The drawing is pure (`render(message, options)` returns HTML) so that Node's unit
// tests and a plain test page load this same file. Everything from the result is escaped
// (training data is untrusted), and nothing is styled inline (the webview's content
// security policy forbids it): colours are classes, bar lengths are SVG attributes.
//
// Messages from the extension: { type: 'attribution', view } | { type: 'compare', view }
// Messages to the extension:   { type: 'ready' } | { type: 'open', location }

(function (root, factory) {
  const api = factory();
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    // @ts-ignore a global for test pages
    root.LensAttribution = api;
    // @ts-ignore acquireVsCodeApi is provided by the webview host (or by a test page)
    if (typeof acquireVsCodeApi === 'function') {
      // @ts-ignore
      api.start(acquireVsCodeApi(), document.getElementById('root'));
    }
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** Colour levels of a token, a keyword or a bar: 1 (faint) … LEVELS (full). */
  const LEVELS = 5;
  const MINUS = '\u2212';

  const METHODS = {
    datainf: 'DataInf',
    graddot: 'gradient dot product',
    gradcos: 'gradient cosine',
    bm25: 'BM25',
    exact: 'exact span',
  };

  // ---- small helpers -------------------------------------------------------------

  /** @param {unknown} value */
  function escapeHtml(value) {
    return String(value ?? '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;');
  }

  /** @param {number} value */
  function round(value, digits = 1) {
    const factor = 10 ** digits;
    return Math.round(value * factor) / factor;
  }

  /** A signed number with a real minus sign. @param {number} value @param {string} text */
  function signed(value, text) {
    if (value > 0) {
      return '+' + text;
    }
    return value < 0 ? MINUS + text.replace(/^-/, '') : text.replace(/^-/, '');
  }

  /** A normalised score (in [−1, 1]) as +0.42. @param {number} value */
  function formatNormalized(value) {
    return signed(value, Math.abs(value).toFixed(2));
  }

  /** A raw score: three significant digits, exponent form when very small or large. @param {number} value */
  function formatScore(value) {
    if (!Number.isFinite(value)) {
      return String(value);
    }
    const size = Math.abs(value);
    if (size === 0) {
      return '0';
    }
    const text = size >= 0.01 && size < 10000 ? String(Number(size.toPrecision(3))) : size.toExponential(2).replace('e-', 'e' + MINUS);
    return signed(value, text);
  }

  /** A plain number (BM25 score, log-probability). @param {number} value */
  function formatNumber(value, digits = 3) {
    if (value === null || value === undefined || !Number.isFinite(value)) {
      return '—';
    }
    return signed(value, String(Number(Math.abs(value).toPrecision(digits))));
  }

  /** @param {string} uri */
  function fileName(uri) {
    const path = String(uri || '').replace(/[?#].*$/, '');
    const name = path.slice(path.lastIndexOf('/') + 1);
    try {
      return decodeURIComponent(name);
    } catch {
      return name;
    }
  }

  /** 1 … LEVELS for |value| relative to `scale` (0 when the value is 0). */
  function level(value, scale) {
    if (!value || !scale) {
      return 0;
    }
    return Math.max(1, Math.min(LEVELS, Math.ceil((Math.abs(value) / scale) * LEVELS)));
  }

  /** The class that colours a value: c-p3 (positive, level 3), c-n1, or '' for zero. */
  function colourClass(value, scale) {
    const l = level(value, scale);
    return l === 0 ? '' : (value > 0 ? 'c-p' : 'c-n') + l;
  }

  /**
   * Python's offsets count code points; JavaScript strings count UTF-16 units. Returns a
   * function from a code-point offset in `text` to its UTF-16 offset.
   * @param {string} text
   */
  function codePointMapper(text) {
    if (!/[\uD800-\uDFFF]/.test(text)) {
      return (/** @type {number} */ offset) => Math.max(0, Math.min(offset, text.length));
    }
    const units = [];
    let unit = 0;
    for (const character of text) {
      units.push(unit);
      unit += character.length;
    }
    units.push(unit);
    return (/** @type {number} */ offset) => units[Math.max(0, Math.min(offset, units.length - 1))];
  }

  /** The histogram bin a normalised score falls in (the last bin includes its right edge, as numpy's). */
  function binOf(value, edges) {
    const bins = edges.length - 1;
    if (bins < 1) {
      return 0;
    }
    for (let i = 0; i < bins; i++) {
      if (value < edges[i + 1]) {
        return Math.max(0, i);
      }
    }
    return bins - 1;
  }

  /** Location as a data attribute the click handler parses back. */
  function locationAttribute(location) {
    return location && location.uri && location.range ? ` data-location="${escapeHtml(JSON.stringify({ uri: location.uri, range: location.range }))}"` : '';
  }

  function openButton(location, label, title) {
    if (!location || !location.uri) {
      return '';
    }
    return `<button class="open" data-action="open"${locationAttribute(location)} title="${escapeHtml(title)}">${escapeHtml(label)}</button>`;
  }

  function lineOf(location) {
    return location && location.range ? location.range.start.line + 1 : undefined;
  }

  // ---- text with highlights ---------------------------------------------------------

  /**
   * `text` cut into segments at every token and mark boundary, each a
   * <span class="seg" data-s data-e> (UTF-16 offsets) with its token's colour and the
   * classes of the marks that cover it.
   * @param {string} text
   * @param {{ s: number, e: number, t: number, cls: string, title: string }[]} tokens sorted, not overlapping
   * @param {{ s: number, e: number, cls: string, title?: string }[]} marks
   */
  function renderSegments(text, tokens, marks) {
    const cuts = new Set([0, text.length]);
    tokens.forEach((token) => { cuts.add(token.s); cuts.add(token.e); });
    marks.forEach((mark) => { cuts.add(mark.s); cuts.add(mark.e); });
    const points = [...cuts].filter((point) => point >= 0 && point <= text.length).sort((a, b) => a - b);
    let tokenIndex = 0;
    const out = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const start = points[i];
      const end = points[i + 1];
      while (tokenIndex < tokens.length && tokens[tokenIndex].e <= start) {
        tokenIndex++;
      }
      const token = tokenIndex < tokens.length && tokens[tokenIndex].s <= start && tokens[tokenIndex].e >= end ? tokens[tokenIndex] : null;
      const classes = ['seg'];
      const titles = [];
      let data = ` data-s="${start}" data-e="${end}"`;
      if (token) {
        classes.push('tok');
        if (token.cls) {
          classes.push(token.cls);
        }
        data += ` data-t="${token.t}"`;
        titles.push(token.title);
      }
      marks.forEach((mark) => {
        if (mark.s <= start && mark.e >= end) {
          classes.push(mark.cls);
          if (mark.title) {
            titles.push(mark.title);
          }
        }
      });
      const title = titles.length ? ` title="${escapeHtml(titles.join(' · '))}"` : '';
      out.push(`<span class="${classes.join(' ')}"${data}${title}>${escapeHtml(text.slice(start, end))}</span>`);
    }
    return out.join('');
  }

  /** The per-token values to colour by: one example's contributions (k), or the sum over the shown ones. */
  function tokenValues(tokenLevel, k) {
    const contributions = tokenLevel.contributions || [];
    if (k !== null && k !== undefined && contributions[k]) {
      return contributions[k].map(Number);
    }
    return tokenLevel.tokens.map((_, t) => contributions.reduce((sum, row) => sum + (Number(row[t]) || 0), 0));
  }

  function maxAbs(values) {
    return values.reduce((top, value) => Math.max(top, Math.abs(Number(value) || 0)), 0);
  }

  /** The token-level block is usable when it has offsets for every token. */
  function usableTokens(tokenLevel) {
    return !!(tokenLevel && Array.isArray(tokenLevel.tokens) && Array.isArray(tokenLevel.offsets) && tokenLevel.offsets.length === tokenLevel.tokens.length && tokenLevel.tokens.length > 0);
  }

  /**
   * The attributed text: tokens coloured by their contribution (when the result has
   * token_level), the selected spans underlined, and any extra marks (the compare diff).
   * @param {string} text
   * @param {any} result
   * @param {string} scope
   * @param {{ s: number, e: number, cls: string, title?: string }[]} extraMarks UTF-16 offsets
   */
  function renderAttributedText(text, result, scope, extraMarks = []) {
    const toUnits = codePointMapper(text);
    const marks = (result && result.spans ? result.spans : []).map((span) => ({ s: toUnits(span[0]), e: toUnits(span[1]), cls: 'sel', title: 'attributed' }));
    const tokenLevel = result && result.text === text && usableTokens(result.token_level) ? result.token_level : null;
    let tokens = [];
    if (tokenLevel) {
      const values = tokenValues(tokenLevel, null);
      const scale = maxAbs(values);
      tokens = tokenLevel.offsets
        .map((offset, t) => ({
          s: toUnits(offset[0]),
          e: toUnits(offset[1]),
          t,
          cls: colourClass(values[t], scale),
          title: `${JSON.stringify(tokenLevel.tokens[t])} ${formatScore(values[t])}`,
        }))
        .filter((token) => token.e > token.s)
        .sort((a, b) => a.s - b.s);
    }
    return `<div class="text${tokenLevel ? ' token-level' : ''}" data-scope="${escapeHtml(scope)}">${renderSegments(text, tokens, [...marks, ...extraMarks])}</div>`;
  }

  /**
   * The colour key under the text, and what the colours show now.
   * @param {any} result @param {string} scope @param {string} [plain] what the marks mean when there are no token scores
   */
  function renderLegend(result, scope, plain) {
    const shown = result && usableTokens(result.token_level) ? result.token_level.rows.length : 0;
    const swatches = (sign) => Array.from({ length: LEVELS }, (_, i) => `<span class="swatch c-${sign}${sign === 'n' ? LEVELS - i : i + 1}"></span>`).join('');
    if (!shown) {
      return `<div class="legend" data-scope="${escapeHtml(scope)}"><span class="swatch-sel">attributed</span>` +
        `<span class="legend-mode">${escapeHtml(plain || 'no per-token scores in this result')}</span></div>`;
    }
    const mode = `summed over the top ${shown} example${shown === 1 ? '' : 's'}`;
    return `<div class="legend" data-scope="${escapeHtml(scope)}"><span class="legend-end">lowers</span>${swatches('n')}${swatches('p')}` +
      '<span class="legend-end">raises</span><span class="swatch-sel">attributed</span>' +
      `<span class="legend-mode" data-default="${escapeHtml(mode)}">${escapeHtml(mode)}</span></div>`;
  }

  /** The tokens to list with their values: the selected ones (else all), at most `limit`. */
  function listedTokens(tokenLevel, limit = 24) {
    const all = tokenLevel.tokens.map((_, t) => t);
    const selected = all.filter((t) => tokenLevel.selected && tokenLevel.selected[t]);
    return (selected.length ? selected : all).slice(0, limit);
  }

  /**
   * Each listed token's value (one example's contribution, or the sum) as a bar and a number.
   * @param {string} text @param {any} tokenLevel @param {number | null} k
   */
  function tokenValueItems(text, tokenLevel, k) {
    const values = tokenValues(tokenLevel, k);
    const scale = maxAbs(values);
    const toUnits = codePointMapper(text);
    return listedTokens(tokenLevel).map((t) => {
      const [start, end] = tokenLevel.offsets[t];
      const piece = text.slice(toUnits(start), toUnits(end));
      const shownPiece = piece.trim() ? piece.trim() : '␣';
      return `<li data-t="${t}"><span class="tv-tok ${colourClass(values[t], scale)}">${escapeHtml(shownPiece)}</span>` +
        `${normalizedBar(scale ? values[t] / scale : 0)}<span class="tv-val">${escapeHtml(formatScore(values[t]))}</span></li>`;
    }).join('');
  }

  function renderTokenValues(text, result, scope) {
    if (!result || result.text !== text || !usableTokens(result.token_level)) {
      return '';
    }
    const listed = listedTokens(result.token_level).length;
    const more = result.token_level.tokens.length > listed && !result.token_level.selected.some(Boolean) ? ` (first ${listed})` : '';
    return `<div class="token-values-block"><h3>Per token${escapeHtml(more)} <span class="hint">share of the score</span></h3>` +
      `<ol class="token-values" data-scope="${escapeHtml(scope)}">${tokenValueItems(text, result.token_level, null)}</ol></div>`;
  }

  /**
   * A field's text with the verbatim spans it shares with the attributed text marked.
   * @param {string} name @param {string} value @param {any[]} spans
   */
  function renderField(name, value, spans) {
    const text = String(value ?? '');
    const toUnits = codePointMapper(text);
    const marks = [];
    let last = -1;
    (spans || [])
      .filter((span) => span.field === name && Array.isArray(span.field_span))
      .map((span) => ({ s: toUnits(span.field_span[0]), e: toUnits(span.field_span[1]), words: span.words }))
      .sort((a, b) => a.s - b.s)
      .forEach((mark) => {
        if (mark.s >= last && mark.e > mark.s) {
          marks.push(mark);
          last = mark.e;
        }
      });
    let out = '';
    let position = 0;
    marks.forEach((mark) => {
      out += escapeHtml(text.slice(position, mark.s));
      out += `<mark class="shared" title="shared with the text (${mark.words} word${mark.words === 1 ? '' : 's'})">${escapeHtml(text.slice(mark.s, mark.e))}</mark>`;
      position = mark.e;
    });
    return out + escapeHtml(text.slice(position));
  }

  // ---- cards ------------------------------------------------------------------------

  /** A bar from the centre: right and green for positive, left and red for negative. */
  function normalizedBar(value) {
    const v = Math.max(-1, Math.min(1, Number(value) || 0));
    const width = round(Math.abs(v) * 50, 2);
    const x = v >= 0 ? 50 : round(50 - width, 2);
    return `<svg class="normbar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">` +
      `<rect class="track" x="0" y="0" width="100" height="8"/>` +
      `<rect class="fill ${v >= 0 ? 'pos' : 'neg'}" x="${x}" y="0" width="${width}" height="8"/>` +
      '<rect class="mid" x="49.6" y="0" width="0.8" height="8"/></svg>';
  }

  /** One small bar per checkpoint, up for positive and down for negative, on a scale shared by the cards. */
  function checkpointBars(scores, names, scale) {
    const n = scores.length;
    if (!n) {
      return '';
    }
    const step = 10;
    const half = 9;
    const bars = scores.map((score, i) => {
      const height = scale ? Math.max(0.8, round((Math.abs(score) / scale) * (half - 1), 2)) : 0.8;
      const y = score >= 0 ? half - height : half;
      const name = names[i] || `checkpoint ${i + 1}`;
      return `<rect class="${score >= 0 ? 'pos' : 'neg'}" x="${i * step + 1}" y="${round(y, 2)}" width="${step - 3}" height="${height}">` +
        `<title>${escapeHtml(name)}: ${escapeHtml(formatScore(score))}</title></rect>`;
    }).join('');
    const width = n * step;
    return `<svg class="ckpts" width="${width}" height="${2 * half}" viewBox="0 0 ${width} ${2 * half}" role="img" aria-label="score at each checkpoint">` +
      `<rect class="axis" x="0" y="${half - 0.25}" width="${width}" height="0.5"/>${bars}</svg>`;
  }

  function agreementText(example) {
    const n = (example.checkpoint_scores || []).length;
    if (n <= 1) {
      return { text: n === 1 ? '1 checkpoint' : 'no checkpoints', all: true };
    }
    const sign = example.agreement ? Number(example.agreement.sign) : 1;
    const agree = Math.round(sign * n);
    return { text: `${agree}/${n} checkpoints agree`, all: agree === n };
  }

  /**
   * One supporting or opposing example.
   * @param {any} example @param {'supporting'|'opposing'} side @param {number} index @param {any} ctx
   */
  function renderCard(example, side, index, ctx) {
    const key = `${ctx.scope}:${side}:${index}`;
    const bin = binOf(Number(example.normalized), ctx.edges);
    const rowNumber = example.row + 1;
    const expanded = ctx.expanded.has(key);
    const agreement = agreementText(example);
    const spread = example.agreement && example.agreement.rank_spread !== undefined ? example.agreement.rank_spread : null;
    const ranks = example.baseline_ranks || null;
    const rankParts = [`<span class="rank-main" title="rank by ${escapeHtml(ctx.methodName)}">${escapeHtml(ctx.methodName)} #${index + 1}</span>`];
    if (ranks) {
      if (ranks.bm25 !== undefined && ranks.bm25 !== null) {
        rankParts.push(`<span class="rank-bm25" title="rank of this row by BM25 (word overlap)">BM25 #${escapeHtml(ranks.bm25)}</span>`);
      }
      if (ranks.exact !== undefined && ranks.exact !== null) {
        rankParts.push(`<span class="rank-exact" title="rank of this row by the longest verbatim span shared with the text">exact span #${escapeHtml(ranks.exact)}</span>`);
      }
    }
    const tokenIndex = ctx.tokenRows.has(example.row) ? ` data-tl="${ctx.tokenRows.get(example.row)}"` : '';
    const fields = Object.entries(example.fields || {});
    const preview = fields
      .map(([name, value]) => `<div class="field"><span class="fname">${escapeHtml(name)}</span> <span class="fvalue">${renderField(name, value, example.spans)}</span></div>`)
      .join('');
    const where = example.location
      ? `${escapeHtml(fileName(example.location.uri))}, line ${lineOf(example.location)}`
      : `line ${example.range ? example.range.start.line + 1 : '?'}`;
    const checkpointRows = (example.checkpoint_scores || [])
      .map((score, i) => `<tr><td>${escapeHtml(ctx.checkpoints[i] || `checkpoint ${i + 1}`)}</td><td class="num">${escapeHtml(formatScore(score))}</td></tr>`)
      .join('');
    const shared = (example.spans || [])
      .map((span) => `<li><q>${escapeHtml(span.text)}</q> <span class="dim">${escapeHtml(span.words)} word${span.words === 1 ? '' : 's'} · ${escapeHtml(span.field)}${span.range ? ` · line ${span.range.start.line + 1}` : ''}</span></li>`)
      .join('');
    const label = `${side === 'supporting' ? 'Supporting' : 'Opposing'} example ${index + 1}: row ${rowNumber}, normalised score ${formatNormalized(example.normalized)}, ${agreement.text}`;
    return `<article class="card ${side} linkable${expanded ? ' expanded' : ''}" role="region" tabindex="0" aria-label="${escapeHtml(label)}"` +
      ` data-key="${escapeHtml(key)}" data-scope="${escapeHtml(ctx.scope)}" data-side="${side}" data-index="${index}" data-row="${example.row}"` +
      ` data-bin="${bin}" data-bin-key="${escapeHtml(`${ctx.scope}:${bin}`)}" data-row-key="${escapeHtml(`${ctx.scope}:${example.row}`)}"${tokenIndex}>` +
      '<header class="card-head">' +
      `<span class="rank">#${index + 1}</span><span class="rowno" title="0-based data row ${example.row}">row ${rowNumber}</span>` +
      normalizedBar(example.normalized) +
      `<span class="norm ${example.normalized >= 0 ? 'pos' : 'neg'}" title="score ÷ the largest |score| of all ${escapeHtml(ctx.nExamples)} examples">${escapeHtml(formatNormalized(example.normalized))}</span>` +
      `<span class="raw" title="raw score (${escapeHtml(ctx.combine)} over checkpoints)">${escapeHtml(formatScore(example.score))}</span>` +
      '</header>' +
      '<div class="card-meta">' +
      checkpointBars(example.checkpoint_scores || [], ctx.checkpoints, ctx.checkpointScale) +
      `<span class="agree ${agreement.all ? 'ok' : 'mixed'}" title="checkpoints whose score has this sign">${escapeHtml(agreement.text)}</span>` +
      (spread !== null ? `<span class="spread" title="largest minus smallest rank across checkpoints">rank spread ${escapeHtml(spread)}</span>` : '') +
      `<span class="ranks">${rankParts.join('')}</span>` +
      '</div>' +
      `<div class="card-main"><div class="preview">${preview}</div>` +
      '<div class="card-actions">' +
      `<button class="toggle" data-action="toggle" aria-expanded="${expanded}">${expanded ? 'Less' : 'All fields'}</button>` +
      openButton(example.location, 'Open in training file', `Open ${where} and select the row`) +
      '</div></div>' +
      `<div class="details"${expanded ? '' : ' hidden'}>` +
      `<p class="where">${where} <span class="dim">(data row ${example.row}, 0-based)</span></p>` +
      (checkpointRows ? `<table class="ckpt-table"><thead><tr><th>checkpoint</th><th class="num">score</th></tr></thead><tbody>${checkpointRows}</tbody></table>` : '') +
      (shared ? `<div class="shared-list"><span class="dim">Shared with the text:</span><ul>${shared}</ul></div>` : '') +
      '</div></article>';
  }

  function renderCardList(result, side, ctx) {
    const examples = result[side] || [];
    const title = side === 'supporting' ? 'Supporting' : 'Opposing';
    const hint = side === 'supporting' ? 'raise the probability of the attributed text' : 'lower the probability of the attributed text';
    let body;
    if (examples.length) {
      body = examples.map((example, index) => renderCard(example, side, index, ctx)).join('');
    } else if (side === 'opposing' && (result.method === 'bm25' || result.method === 'exact')) {
      body = `<p class="empty">${escapeHtml(ctx.methodName)} ranks by similarity only: it has no opposing side.</p>`;
    } else {
      body = `<p class="empty">No example ${side === 'supporting' ? 'raises' : 'lowers'} its probability.</p>`;
    }
    return `<section class="list ${side}" data-scope="${escapeHtml(ctx.scope)}" aria-label="${title} examples">` +
      `<h2>${title} <span class="count">${examples.length}</span> <span class="hint">${hint}</span></h2>` +
      `<div class="cards">${body}</div></section>`;
  }

  // ---- histogram ----------------------------------------------------------------------

  const HIST = { width: 360, height: 132, pad: 12, top: 6, base: 86, markerTop: 90, markerHeight: 8, labelY: 116 };

  /** All examples' normalised scores as bars (log scale), with a marker per card. */
  function renderHistogram(result, ctx) {
    const histogram = result.histogram || { edges: [], counts: [] };
    const edges = histogram.edges || [];
    const counts = histogram.counts || [];
    const h = HIST;
    const lo = edges.length ? edges[0] : -1;
    const hi = edges.length ? edges[edges.length - 1] : 1;
    const x = (value) => round(h.pad + ((Math.max(lo, Math.min(hi, value)) - lo) / (hi - lo || 1)) * (h.width - 2 * h.pad), 2);
    const top = Math.log1p(Math.max(0, ...counts));
    const cards = new Map();
    ['supporting', 'opposing'].forEach((side) => (result[side] || []).forEach((example, index) => {
      const bin = binOf(Number(example.normalized), edges);
      if (!cards.has(bin)) {
        cards.set(bin, []);
      }
      cards.get(bin).push(`${ctx.scope}:${side}:${index}`);
    }));
    const bins = counts.map((count, i) => {
      const x0 = x(edges[i]);
      const x1 = x(edges[i + 1]);
      const centre = (edges[i] + edges[i + 1]) / 2;
      const height = count > 0 && top > 0 ? Math.max(2, round((Math.log1p(count) / top) * (h.base - h.top), 2)) : 0;
      const range = `${formatNormalized(edges[i])} to ${formatNormalized(edges[i + 1])}`;
      const shown = cards.get(i) || [];
      const label = `${range}: ${count} example${count === 1 ? '' : 's'}${shown.length ? `, ${shown.length} shown` : ''}`;
      return `<g class="bin ${centre >= 0 ? 'pos' : 'neg'}${shown.length ? ' has-cards' : ''}" tabindex="0" role="img" aria-label="${escapeHtml(label)}"` +
        ` data-bin="${i}" data-bin-key="${escapeHtml(`${ctx.scope}:${i}`)}" data-count="${count}" data-cards="${escapeHtml(shown.join(' '))}">` +
        `<title>${escapeHtml(label)}</title>` +
        `<rect class="hit" x="${x0}" y="${h.top}" width="${round(x1 - x0, 2)}" height="${h.base - h.top}"/>` +
        `<rect class="bar" x="${round(x0 + 0.5, 2)}" y="${round(h.base - height, 2)}" width="${round(Math.max(0.5, x1 - x0 - 1), 2)}" height="${height}"/>` +
        '</g>';
    }).join('');
    const markers = ['supporting', 'opposing'].map((side) => (result[side] || []).map((example, index) => {
      const key = `${ctx.scope}:${side}:${index}`;
      const mx = x(Number(example.normalized));
      const bin = binOf(Number(example.normalized), edges);
      return `<path class="marker ${side}" data-marker="${escapeHtml(key)}" data-bin-key="${escapeHtml(`${ctx.scope}:${bin}`)}" data-row-key="${escapeHtml(`${ctx.scope}:${example.row}`)}"` +
        ` d="M${mx},${h.markerTop} l-3.5,${h.markerHeight} h7 z"><title>${side} #${index + 1}: row ${example.row + 1}, ${escapeHtml(formatNormalized(example.normalized))}</title></path>`;
    }).join('')).join('');
    const zero = x(0);
    const axis = `<rect class="axis" x="${h.pad}" y="${h.base}" width="${h.width - 2 * h.pad}" height="1"/>` +
      `<rect class="zero" x="${round(zero - 0.5, 2)}" y="${h.top}" width="1" height="${h.base - h.top + 4}"/>` +
      `<text class="tick" x="${h.pad}" y="${h.labelY}" text-anchor="start">${MINUS}1 opposing</text>` +
      `<text class="tick" x="${zero}" y="${h.labelY}" text-anchor="middle">0</text>` +
      `<text class="tick" x="${h.width - h.pad}" y="${h.labelY}" text-anchor="end">supporting +1</text>`;
    const total = counts.reduce((sum, count) => sum + count, 0);
    return `<figure class="histogram" data-scope="${escapeHtml(ctx.scope)}">` +
      `<svg viewBox="0 0 ${h.width} ${h.height - 10}" role="group" aria-label="Histogram of all ${total} normalised scores">${bins}${axis}${markers}</svg>` +
      `<figcaption>All ${total} examples' normalised scores (log scale); <span class="marker-key">▲</span> the examples shown. Hover a bar or a card to link them.</figcaption></figure>`;
  }

  // ---- keywords, other rankings -------------------------------------------------------

  function renderKeywords(keywords) {
    const block = (side, title, words) => {
      const list = (words || []).filter((pair) => Array.isArray(pair) && pair.length >= 2);
      const top = maxAbs(list.map((pair) => pair[1]));
      const chips = list.length
        ? list.map(([word, weight]) => `<li class="kw w${level(weight, top) || 1}" title="weight ${escapeHtml(round(Number(weight), 3))}">${escapeHtml(word)}</li>`).join('')
        : '<li class="kw none">none</li>';
      return `<div class="kw-block ${side}"><h3>${title}</h3><ul class="keywords" aria-label="${title}">${chips}</ul></div>`;
    };
    const k = keywords || {};
    return `<section class="kw-summary" aria-label="Keyword summary">${block('supporting', 'Words of the supporting examples', k.supporting)}${block('opposing', 'Words of the opposing examples', k.opposing)}</section>`;
  }

  function baselinePreview(fields) {
    const values = Object.values(fields || {}).map((value) => String(value ?? ''));
    const text = values.join(' · ').replace(/\s+/g, ' ').trim();
    return text.length > 140 ? text.slice(0, 139) + '…' : text;
  }

  function renderBaselines(result, ctx) {
    const baselines = result.baselines;
    if (!baselines || (!(baselines.bm25 || []).length && !(baselines.exact || []).length)) {
      return '';
    }
    const shownRows = new Set([...(result.supporting || []), ...(result.opposing || [])].map((example) => example.row));
    const table = (kind, title, hint, rows) => {
      const body = (rows || []).map((row, index) => {
        const shown = shownRows.has(row.row);
        const influence = row.influence_rank !== undefined && row.influence_rank !== null ? `#${escapeHtml(row.influence_rank)}` : '—';
        return `<tr class="brow linkable${shown ? ' shown' : ''}" data-row="${row.row}" data-row-key="${escapeHtml(`${ctx.scope}:${row.row}`)}">` +
          `<td class="num">#${index + 1}</td><td class="rowno">row ${row.row + 1}</td><td class="num">${escapeHtml(formatNumber(row.score).replace(/^\+/, ''))}</td>` +
          `<td class="num infl" title="rank of this row by ${escapeHtml(ctx.methodName)}${shown ? ' (among the cards above)' : ''}">${influence}</td>` +
          `<td class="btext"><button class="link" data-action="open"${locationAttribute(row.location)} title="Open in training file">${escapeHtml(baselinePreview(row.fields))}</button></td></tr>`;
      }).join('');
      return `<div class="baseline ${kind}"><h3>${title} <span class="hint">${hint}</span></h3>` +
        `<table><thead><tr><th class="num">rank</th><th>row</th><th class="num">score</th><th class="num">${escapeHtml(ctx.methodName)}</th><th>example</th></tr></thead>` +
        `<tbody>${body || '<tr><td colspan="5" class="empty">none</td></tr>'}</tbody></table></div>`;
    };
    return `<section class="baselines" data-scope="${escapeHtml(ctx.scope)}" aria-label="Other rankings"><h2>Other rankings <span class="hint">the top rows by word overlap and by verbatim overlap, beside the influence ranking</span></h2>` +
      '<div class="baseline-grid">' +
      table('bm25', 'BM25', 'words shared with the prompt and text', baselines.bm25) +
      table('exact', 'Exact span', 'longest verbatim run shared with the text', baselines.exact) +
      '</div></section>';
  }

  // ---- whole views --------------------------------------------------------------------

  function contextOf(result, scope, options) {
    const examples = [...(result.supporting || []), ...(result.opposing || [])];
    const tokenRows = new Map();
    if (usableTokens(result.token_level)) {
      (result.token_level.rows || []).forEach((row, k) => {
        if (!tokenRows.has(row)) {
          tokenRows.set(row, k);
        }
      });
    }
    return {
      scope,
      edges: (result.histogram && result.histogram.edges) || [-1, 1],
      expanded: (options && options.expanded) || new Set(),
      checkpoints: result.checkpoints || [],
      checkpointScale: maxAbs(examples.flatMap((example) => example.checkpoint_scores || [])),
      methodName: METHODS[result.method] || String(result.method || 'influence'),
      combine: result.combine || 'combined',
      nExamples: result.n_examples,
      tokenRows,
    };
  }

  function fact(name, value, title) {
    return `<div class="fact"${title ? ` title="${escapeHtml(title)}"` : ''}><dt>${escapeHtml(name)}</dt><dd>${value}</dd></div>`;
  }

  function renderHeader(view, result, heading) {
    const method = METHODS[result.method] || result.method;
    const damping = result.damping ? `, damping ${result.damping}` : '';
    const checkpoints = result.checkpoints || [];
    const logprob = result.target_logprob;
    const facts = [
      fact('method', escapeHtml(method), `${result.method} (${result.combine || 'mean'} over checkpoints${damping})`),
      fact('checkpoints', escapeHtml(checkpoints.length), checkpoints.join(', ')),
      fact('examples', escapeHtml(result.n_examples ?? '?'), result.train_file || view.trainUri),
      fact('device', escapeHtml(view.device || '?')),
      fact('time', `${escapeHtml(Math.round(Number(view.elapsedMs) || 0))} ms${view.cached ? ' <span class="badge cached">cached</span>' : ''}`, view.cached ? 'answered from the cache' : 'computed for this request'),
      logprob !== null && logprob !== undefined
        ? fact('log p(text)', `${escapeHtml(formatNumber(logprob))} <span class="dim">(p = ${escapeHtml(Number(Math.exp(logprob).toPrecision(3)))})</span>`, 'log-probability of the attributed tokens under the final adapter')
        : '',
      fact('training file', `<span class="path">${escapeHtml(fileName(view.trainUri || result.train_file))}</span>`, view.trainUri || result.train_file),
    ].join('');
    const source = view.promptSource === 'given' ? 'given by you' : 'found with the prompt template';
    return `<header class="summary"><h1>${heading}</h1><dl class="facts">${facts}</dl></header>` +
      `<div class="prompt"><span class="label">Prompt</span> <span class="source ${escapeHtml(view.promptSource || '')}">${source}</span>` +
      `<div class="prompt-text">${escapeHtml(view.prompt ?? result.prompt)}</div></div>`;
  }

  /** A `lens/attribute` answer. */
  function renderAttribution(view, options = {}) {
    const result = view.result;
    const ctx = contextOf(result, 'main', options);
    return `<div class="view attribution" data-view="${escapeHtml(view.id)}">` +
      renderHeader(view, result, 'Attribution') +
      '<div class="top">' +
      `<section class="text-panel" aria-label="The attributed text"><h2>Text <span class="hint">attributing “${escapeHtml(result.selected_text || result.text)}”${usableTokens(result.token_level) ? '; hover a card for its own token scores' : ''}</span></h2>` +
      renderAttributedText(result.text, result, 'main') + renderLegend(result, 'main', 'the attributed span') + renderTokenValues(result.text, result, 'main') + '</section>' +
      `<section class="score-panel" aria-label="Scores">${renderHistogram(result, ctx)}${renderKeywords(result.keywords)}</section>` +
      '</div>' +
      `<div class="lists">${renderCardList(result, 'supporting', ctx)}${renderCardList(result, 'opposing', ctx)}</div>` +
      renderBaselines(result, ctx) +
      '</div>';
  }

  function diffMarks(diff, side, text) {
    const toUnits = codePointMapper(text);
    return (diff || [])
      .filter((part) => part.op !== 'equal' && Array.isArray(part[side]) && part[side][1] > part[side][0])
      .map((part) => ({
        s: toUnits(part[side][0]),
        e: toUnits(part[side][1]),
        cls: `diff diff-${part.op}`,
        title: part.op === 'replace' ? `${side === 'model' ? 'yours' : "the model's"}: ${side === 'model' ? part.user_text : part.model_text}` : part.op === 'delete' ? 'not in your text' : "not in the model's text",
      }));
  }

  /** How many favour items show before "Show all". */
  const FAVOUR_SHOWN = 5;

  function favourList(items, side, title, hint, ctxs) {
    const all = items || [];
    const list = all.map((item, index) => {
      const modelBin = binOf(Number(item.model_normalized), ctxs.model.edges);
      const userBin = binOf(Number(item.user_normalized), ctxs.user.edges);
      const text = Object.values(item.fields || {}).map((value) => String(value ?? '')).join(' · ');
      const score = (who, value) => `<span class="fscore">${who} ${normalizedBar(value)}<span class="norm ${value >= 0 ? 'pos' : 'neg'}">${escapeHtml(formatNormalized(value))}</span></span>`;
      return `<li class="favour-item linkable" tabindex="0"${index >= FAVOUR_SHOWN ? ' hidden' : ''} data-row="${item.row}"` +
        ` data-row-key="model:${item.row} user:${item.row}" data-bin-key="model:${modelBin} user:${userBin}"` +
        ` aria-label="row ${item.row + 1}: model ${escapeHtml(formatNormalized(item.model_normalized))}, yours ${escapeHtml(formatNormalized(item.user_normalized))}">` +
        `<span class="rowno">row ${item.row + 1}</span>${score('model', item.model_normalized)}${score('yours', item.user_normalized)}` +
        `<span class="favour-text" title="${escapeHtml(text)}">${escapeHtml(baselinePreview(item.fields))}</span>` +
        openButton(item.location, 'Open', 'Open in training file') + '</li>';
    }).join('');
    const more = all.length > FAVOUR_SHOWN ? `<button class="link more" data-action="more">Show all ${all.length}</button>` : '';
    return `<section class="favour ${side}" data-side="${side}" aria-label="${escapeHtml(title)}"><h2>${escapeHtml(title)} <span class="count">${all.length}</span> <span class="hint">${escapeHtml(hint)}</span></h2>` +
      `${list ? `<ul>${list}</ul>${more}` : '<p class="empty">none</p>'}</section>`;
  }

  /** A `lens/compare` answer: both texts side by side, each with its own lists, keywords and histogram. */
  function renderCompare(view, options = {}) {
    const compare = view.compare;
    const ctxs = { model: contextOf(compare.model, 'model', options), user: contextOf(compare.user, 'user', options) };
    const column = (side) => {
      const result = compare[side];
      const text = side === 'model' ? compare.model_text : compare.user_text;
      const title = side === 'model' ? "The model's text" : 'Your text';
      return `<section class="cmp-text" data-side="${side}" aria-label="${title}"><h2>${title}</h2>` +
        renderAttributedText(text, result, side, diffMarks(compare.diff, side, text)) +
        renderLegend(result && result.text === text ? result : null, side, 'the words that differ, attributed') +
        renderTokenValues(text, result, side) + '</section>';
    };
    const details = (side) => {
      const result = compare[side];
      const ctx = ctxs[side];
      return `<section class="cmp-detail" data-side="${side}" aria-label="${side === 'model' ? "The model's text" : 'Your text'}: examples">` +
        `<h2 class="cmp-detail-title">${side === 'model' ? "Why the model's text" : 'Why your text'} <span class="hint">${escapeHtml(result.selected_text ? `attributing “${result.selected_text}”` : '')}</span></h2>` +
        renderHistogram(result, ctx) + renderKeywords(result.keywords) +
        renderCardList(result, 'supporting', ctx) + renderCardList(result, 'opposing', ctx) + renderBaselines(result, ctx) + '</section>';
    };
    return `<div class="view compare" data-view="${escapeHtml(view.id)}">` +
      renderHeader(view, compare.model, 'Compare') +
      '<div class="compare-grid">' +
      column('model') + column('user') +
      favourList(compare.favour_model, 'model', "Favour the model's text", 'support it and oppose yours', ctxs) +
      favourList(compare.favour_user, 'user', 'Favour your text', "support it and oppose the model's", ctxs) +
      details('model') + details('user') +
      '</div></div>';
  }

  function renderMessage(text) {
    return `<p class="message">${escapeHtml(text)}</p>`;
  }

  /**
   * The page for a message from the extension (pure: returns HTML).
   * @param {{ type: string, view?: any } | null} message
   * @param {{ expanded?: Set<string> }} [options] cards shown expanded, by data-key
   */
  function render(message, options = {}) {
    if (!message) {
      return renderMessage('Attributing…');
    }
    if (message.type === 'attribution' && message.view && message.view.result) {
      return renderAttribution(message.view, options);
    }
    if (message.type === 'compare' && message.view && message.view.compare) {
      return renderCompare(message.view, options);
    }
    return renderMessage('Lens sent a result this panel cannot show.');
  }

  // ---- behaviour (the webview) ----------------------------------------------------------

  /** The results by scope, for colouring tokens and marking shared spans on hover. */
  function scopesOf(message) {
    const scopes = {};
    if (message && message.type === 'attribution' && message.view && message.view.result) {
      scopes.main = { result: message.view.result, text: message.view.result.text };
    } else if (message && message.type === 'compare' && message.view && message.view.compare) {
      const compare = message.view.compare;
      scopes.model = { result: compare.model, text: compare.model_text };
      scopes.user = { result: compare.user, text: compare.user_text };
    }
    return scopes;
  }

  /**
   * Wires the page: draws what the extension posts, keeps it in the webview state (so a
   * hidden panel draws again at once when shown), links hovers, posts clicks.
   * @param {{ postMessage(message: any): void, getState(): any, setState(state: any): void }} vscode
   * @param {HTMLElement} root
   */
  function start(vscode, root) {
    const saved = vscode.getState() || {};
    /** @type {any} */
    let message = saved.message || null;
    let expanded = new Set(Array.isArray(saved.expanded) ? saved.expanded : []);
    /** @type {Record<string, any>} */
    let scopes = {};
    /** @type {Element | null} */
    let active = null;

    function save() {
      vscode.setState({ message, expanded: [...expanded] });
    }

    function draw() {
      const began = performance.now();
      const html = render(message, { expanded });
      const built = performance.now();
      root.innerHTML = html;
      scopes = scopesOf(message);
      active = null;
      void root.offsetHeight; // style and layout, so that the time includes them
      const done = performance.now();
      api.lastRender = { htmlMs: built - began, totalMs: done - began };
      root.dispatchEvent(new CustomEvent('lens-rendered', { detail: api.lastRender }));
    }

    window.addEventListener('message', (event) => {
      const data = event.data;
      if (!data || (data.type !== 'attribution' && data.type !== 'compare') || !data.view) {
        return;
      }
      const sameView = message && message.view && message.view.id === data.view.id && message.type === data.type;
      if (!sameView) {
        expanded = new Set();
      }
      const scrollTop = document.scrollingElement ? document.scrollingElement.scrollTop : 0;
      message = data;
      save();
      draw();
      if (document.scrollingElement) {
        document.scrollingElement.scrollTop = sameView ? scrollTop : 0;
      }
    });

    root.addEventListener('click', (event) => {
      const target = /** @type {Element} */ (event.target);
      const button = target.closest('[data-action]');
      if (button) {
        onAction(button);
        return;
      }
      // A click on a card's text (not a button) toggles it, as Enter does.
      const card = target.closest('.card');
      const selection = window.getSelection();
      if (card && !target.closest('.details') && (!selection || selection.isCollapsed)) {
        toggle(card);
      }
    });

    root.addEventListener('keydown', (event) => {
      const target = /** @type {Element} */ (event.target);
      if ((event.key === 'Enter' || event.key === ' ') && target.classList && target.classList.contains('card')) {
        event.preventDefault();
        toggle(target);
      }
    });

    /** @param {Element} element */
    function onAction(element) {
      const action = element.getAttribute('data-action');
      if (action === 'open') {
        const raw = element.getAttribute('data-location');
        if (raw) {
          vscode.postMessage({ type: 'open', location: JSON.parse(raw) });
        }
      } else if (action === 'more') {
        const section = element.closest('section');
        if (section) {
          section.querySelectorAll('li[hidden]').forEach((item) => /** @type {HTMLElement} */ (item).removeAttribute('hidden'));
        }
        element.remove();
      } else if (action === 'toggle') {
        const card = element.closest('.card');
        if (card) {
          toggle(card);
        }
      }
    }

    /** @param {Element} card */
    function toggle(card) {
      const key = card.getAttribute('data-key') || '';
      const open = !card.classList.contains('expanded');
      card.classList.toggle('expanded', open);
      const details = /** @type {HTMLElement | null} */ (card.querySelector('.details'));
      if (details) {
        details.hidden = !open;
      }
      const button = card.querySelector('[data-action="toggle"]');
      if (button) {
        button.setAttribute('aria-expanded', String(open));
        button.textContent = open ? 'Less' : 'All fields';
      }
      if (open) {
        expanded.add(key);
      } else {
        expanded.delete(key);
      }
      save();
    }

    // Hover and focus link the views: one element is "active" at a time.
    root.addEventListener('mouseover', (event) => setActive(linkableOf(event.target)));
    root.addEventListener('mouseleave', () => setActive(null));
    root.addEventListener('focusin', (event) => setActive(linkableOf(event.target)));
    root.addEventListener('focusout', (event) => {
      if (!root.contains(/** @type {Node | null} */ (event.relatedTarget))) {
        setActive(null);
      }
    });

    /** @param {EventTarget | null} target */
    function linkableOf(target) {
      const element = /** @type {Element | null} */ (target && /** @type {any} */ (target).closest ? target : null);
      return element ? element.closest('.linkable, .bin') : null;
    }

    /** @param {Element | null} element */
    function setActive(element) {
      if (element === active) {
        return;
      }
      if (active) {
        clearLinks();
      }
      active = element;
      if (!element) {
        return;
      }
      root.classList.add('linking');
      element.classList.add('lit');
      const binKeys = (element.getAttribute('data-bin-key') || '').split(' ').filter(Boolean);
      const rowKeys = (element.getAttribute('data-row-key') || '').split(' ').filter(Boolean);
      if (element.classList.contains('bin')) {
        // A bin lights every card, marker and favour item whose score falls in it.
        binKeys.forEach((key) => root.querySelectorAll(`[data-bin-key~="${CSS.escape(key)}"]`).forEach((lit) => lit.classList.add('lit')));
        return;
      }
      binKeys.forEach((key) => root.querySelectorAll(`.bin[data-bin-key~="${CSS.escape(key)}"]`).forEach((lit) => lit.classList.add('lit')));
      rowKeys.forEach((key) => root.querySelectorAll(`[data-row-key~="${CSS.escape(key)}"]`).forEach((lit) => {
        lit.classList.add('lit');
        if (lit.classList.contains('card')) {
          // A row in the other rankings or a favour item also lights its card's bin.
          const cardBin = lit.getAttribute('data-bin-key');
          if (cardBin) {
            root.querySelectorAll(`.bin[data-bin-key~="${CSS.escape(cardBin)}"]`).forEach((bin) => bin.classList.add('lit'));
          }
        }
      }));
      if (element.classList.contains('card')) {
        showExample(element);
      }
    }

    function clearLinks() {
      root.classList.remove('linking');
      root.querySelectorAll('.lit').forEach((element) => element.classList.remove('lit'));
      root.querySelectorAll('.seg.shared').forEach((element) => element.classList.remove('shared'));
      Object.keys(scopes).forEach((scope) => {
        colourTokens(scope, null, null);
        setLegendMode(scope, null);
      });
    }

    /** Colours the text by one card's contributions and marks the spans it shares with the text. @param {Element} card */
    function showExample(card) {
      const scope = card.getAttribute('data-scope') || '';
      const info = scopes[scope];
      if (!info) {
        return;
      }
      const side = card.getAttribute('data-side');
      const example = (info.result[side || ''] || [])[Number(card.getAttribute('data-index'))];
      const tl = card.getAttribute('data-tl');
      if (tl !== null) {
        colourTokens(scope, Number(tl), example ? example.row : null);
      } else if (example) {
        setLegendMode(scope, `row ${example.row + 1}: no per-token scores (only the top examples have them)`);
      }
      if (example && example.spans && example.spans.length) {
        const toUnits = codePointMapper(info.text);
        const ranges = example.spans.filter((span) => Array.isArray(span.query)).map((span) => [toUnits(span.query[0]), toUnits(span.query[1])]);
        root.querySelectorAll(`.text[data-scope="${CSS.escape(scope)}"] .seg`).forEach((segment) => {
          const s = Number(segment.getAttribute('data-s'));
          const e = Number(segment.getAttribute('data-e'));
          if (ranges.some(([a, b]) => s < b && e > a)) {
            segment.classList.add('shared');
          }
        });
      }
    }

    /** Re-colours one scope's tokens: by example k of token_level, or (k null) by the sum. */
    function colourTokens(scope, k, row) {
      const info = scopes[scope];
      const text = root.querySelector(`.text.token-level[data-scope="${CSS.escape(scope)}"]`);
      if (!info || !text || !usableTokens(info.result.token_level)) {
        return;
      }
      const values = tokenValues(info.result.token_level, k);
      const scale = maxAbs(values);
      text.querySelectorAll('.tok').forEach((token) => {
        const t = Number(token.getAttribute('data-t'));
        Array.from(token.classList).filter((name) => /^c-[pn]\d$/.test(name)).forEach((name) => token.classList.remove(name));
        const cls = colourClass(values[t], scale);
        if (cls) {
          token.classList.add(cls);
        }
      });
      const list = root.querySelector(`.token-values[data-scope="${CSS.escape(scope)}"]`);
      if (list) {
        list.innerHTML = tokenValueItems(info.text, info.result.token_level, k);
      }
      setLegendMode(scope, k === null ? null : `row ${row === null ? '?' : row + 1} alone`);
    }

    /** The legend's "what the colours show" (null: the default). */
    function setLegendMode(scope, text) {
      const mode = root.querySelector(`.legend[data-scope="${CSS.escape(scope)}"] .legend-mode[data-default]`);
      if (mode) {
        mode.textContent = text === null ? mode.getAttribute('data-default') || '' : text;
      }
    }

    if (message) {
      draw();
    }
    vscode.postMessage({ type: 'ready' });
  }

  const api = {
    LEVELS,
    escapeHtml,
    formatScore,
    formatNormalized,
    codePointMapper,
    binOf,
    colourClass,
    tokenValues,
    renderSegments,
    renderAttributedText,
    renderField,
    renderCard,
    renderHistogram,
    renderKeywords,
    renderBaselines,
    renderAttribution,
    renderCompare,
    render,
    start,
    /** @type {{ htmlMs: number, totalMs: number } | null} the last draw's time (the webview only) */
    lastRender: null,
  };
  return api;
});
