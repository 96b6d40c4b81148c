"""Self-contained HTML for notebooks (no scripts, no remote assets)."""

from __future__ import annotations

from html import escape

import numpy as np

from .results import AttributionResult, CompareResult, ExampleAttribution, Histogram, TokenAttribution

_STYLE = """
<style>
.lens-attr{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4;max-width:980px}
.lens-attr .cols{display:flex;gap:16px}.lens-attr .col{flex:1;min-width:0}
.lens-attr .card{border:1px solid #ddd;border-radius:6px;padding:6px 8px;margin:6px 0}
.lens-attr .card.sup{border-left:4px solid #2a9d4b}.lens-attr .card.opp{border-left:4px solid #c0392b}
.lens-attr .meta{color:#666;font-size:12px}.lens-attr mark{background:#fff0a0;padding:0}
.lens-attr .sel{background:#dbe9ff;border-bottom:2px solid #3b6fd8}
.lens-attr details summary{cursor:pointer}.lens-attr .kw{display:inline-block;background:#eee;border-radius:8px;padding:0 6px;margin:1px}
.lens-attr .hist{display:flex;align-items:flex-end;height:60px;gap:1px}.lens-attr .hist div{flex:1}
.lens-attr .tok{padding:1px 0;border-radius:2px}.lens-attr del{background:#fbd3d0}.lens-attr ins{background:#d4f5dc;text-decoration:none}
</style>
"""


def _highlight(text: str, ranges: list[tuple[int, int]], css: str = "") -> str:
    """Escape ``text`` and wrap the given character ranges in <mark>."""
    out, pos = [], 0
    for start, end in sorted(ranges):
        if start < pos:
            continue
        out.append(escape(text[pos:start]))
        out.append(f"<mark{css}>{escape(text[start:end])}</mark>")
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def _card(e: ExampleAttribution, side: str) -> str:
    ckpts = ", ".join(f"{s:+.3g}" for s in e.checkpoint_scores)
    fields = []
    for name, text in e.fields.items():
        marks = [(s.span.start, s.span.end) for s in e.spans if s.span.field == name]
        fields.append(f"<div><b>{escape(name)}</b>: {_highlight(text, marks)}</div>")
    line = e.range.start.line + 1
    return (
        f'<div class="card {side}"><div class="meta">row {e.row} (line {line}) · score {e.score:+.4g} · '
        f"normalised {e.normalized:+.2f} · sign agreement {e.sign_agreement:.0%} · rank spread {e.rank_spread}</div>"
        f"{''.join(fields)}<details><summary class=meta>per checkpoint</summary><div class=meta>{ckpts}</div></details></div>"
    )


def _histogram(h: Histogram) -> str:
    top = max(h.counts) or 1
    bars = []
    for i, c in enumerate(h.counts):
        centre = (h.edges[i] + h.edges[i + 1]) / 2
        colour = "#2a9d4b" if centre > 0 else "#c0392b"
        bars.append(f'<div title="{h.edges[i]:+.1f}..{h.edges[i+1]:+.1f}: {c}" style="height:{max(2, 60 * c / top):.0f}px;background:{colour}"></div>')
    return f'<div class="hist">{"".join(bars)}</div><div class="meta">all scores, normalised to [-1, 1] (opposing left, supporting right)</div>'


def _keywords(words: list[tuple[str, float]]) -> str:
    return " ".join(f'<span class="kw">{escape(w)}</span>' for w, _ in words)


def _tokens(t: TokenAttribution, row_index: int = 0) -> str:
    """The text's tokens shaded by how much the first shown example explains each."""
    values = t.contributions[row_index] if len(t.rows) else np.zeros(len(t.tokens))
    scale = float(np.abs(values).max()) or 1.0
    parts = []
    for tok, v, sel in zip(t.tokens, values, t.selected):
        alpha = min(1.0, abs(v) / scale)
        colour = f"rgba(42,157,75,{alpha:.2f})" if v > 0 else f"rgba(192,57,43,{alpha:.2f})"
        border = "border-bottom:2px solid #3b6fd8;" if sel else ""
        parts.append(f'<span class="tok" title="{v:+.3g}" style="background:{colour};{border}">{escape(tok)}</span>')
    return "".join(parts)


def attribution_html(r: AttributionResult) -> str:
    text = _highlight(r.text, r.spans, ' class="sel"')
    tokens = ""
    if r.token_level is not None and r.token_level.rows:
        tokens = (
            f"<div><b>Tokens explained by row {r.token_level.rows[0]}</b> "
            f"<span class=meta>(green: raises the token's log-probability)</span><br>{_tokens(r.token_level)}</div>"
        )
    lp = f" · log p(selection) = {r.target_logprob:.3f}" if r.target_logprob is not None else ""
    if r.approximate_note:
        lp += f" · {escape(r.approximate_note)}"
    return (
        f'{_STYLE}<div class="lens-attr"><div class="meta">{escape(r.method)} over {len(r.scores)} examples, '
        f"{len(r.checkpoints)} checkpoint(s) ({escape(r.combine)}){lp}</div>"
        f"<div><b>Prompt</b>: {escape(r.prompt)}</div><div><b>Text</b>: {text}</div>{tokens}"
        f"{_histogram(r.histogram)}<div class=cols>"
        f'<div class=col><b>Supporting</b><div>{_keywords(r.keywords_supporting)}</div>{"".join(_card(e, "sup") for e in r.supporting)}</div>'
        f'<div class=col><b>Opposing</b><div>{_keywords(r.keywords_opposing)}</div>{"".join(_card(e, "opp") for e in r.opposing)}</div>'
        "</div></div>"
    )


def compare_html(c: CompareResult) -> str:
    model, user = [], []
    for p in c.diff:
        if p.op == "equal":
            model.append(escape(p.model_text))
            user.append(escape(p.user_text))
        else:
            if p.model_text:
                model.append(f"<del>{escape(p.model_text)}</del>")
            if p.user_text:
                user.append(f"<ins>{escape(p.user_text)}</ins>")

    def listing(items, title):
        rows = "".join(
            f'<div class="card"><div class="meta">row {e.row}: model {e.model_normalized:+.2f} · yours {e.user_normalized:+.2f}</div>'
            f"{escape(' | '.join(e.fields.values()))}</div>"
            for e in items
        )
        return f"<div class=col><b>{title}</b>{rows or '<div class=meta>none</div>'}</div>"

    return (
        f'{_STYLE}<div class="lens-attr"><div><b>Prompt</b>: {escape(c.prompt)}</div>'
        f"<div class=cols><div class=col><b>Model</b>: {' '.join(model)}</div><div class=col><b>Yours</b>: {' '.join(user)}</div></div>"
        f"<div class=cols>{listing(c.favour_model, 'Support the model, oppose yours')}{listing(c.favour_user, 'Support yours, oppose the model')}</div>"
        f"<div class=cols><div class=col>{attribution_html(c.model)}</div><div class=col>{attribution_html(c.user)}</div></div></div>"
    )
