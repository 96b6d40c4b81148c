"""Attribution results: one set of dataclasses for the CLI, JSON, pandas and notebooks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from lens_engine.source import Range

from .lexical import SharedSpan
from .query import CharSpan, DiffPart

SCHEMA_VERSION = 1


@dataclass
class SpanInFile:
    """A verbatim span shared by the query text and an example, located in the training file."""

    span: SharedSpan
    range: Range  # where the span's text sits in the training file

    def to_dict(self) -> dict:
        s = self.span
        return {
            "text": s.text,
            "words": s.words,
            "query": [s.query_start, s.query_end],
            "field": s.field,
            "field_span": [s.start, s.end],
            "range": self.range.to_dict(),
        }


@dataclass
class ExampleAttribution:
    """One training example's score for a query."""

    row: int  # 0-based data row in the training file (header excluded)
    score: float  # raw score, combined over checkpoints (positive = supporting)
    normalized: float  # score / max |score| over all examples, in [-1, 1]
    checkpoint_scores: list[float]
    sign_agreement: float  # share of checkpoints whose score has the combined score's sign
    rank_spread: int  # max - min rank across checkpoints (0 = same rank everywhere)
    range: Range  # the whole row in the training file
    fields: dict[str, str]  # the training text, by column
    field_ranges: dict[str, Range]
    spans: list[SpanInFile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "score": self.score,
            "normalized": self.normalized,
            "range": self.range.to_dict(),
            "checkpoint_scores": self.checkpoint_scores,
            "agreement": {"sign": self.sign_agreement, "rank_spread": self.rank_spread},
            "spans": [s.to_dict() for s in self.spans],
            "fields": self.fields,
            "field_ranges": {k: v.to_dict() for k, v in self.field_ranges.items()},
        }


@dataclass
class Histogram:
    edges: list[float]  # bin edges over [-1, 1]
    counts: list[int]

    @staticmethod
    def of(normalized: np.ndarray, bins: int = 20) -> "Histogram":
        counts, edges = np.histogram(np.clip(normalized, -1, 1), bins=bins, range=(-1.0, 1.0))
        return Histogram([round(float(e), 4) for e in edges], [int(c) for c in counts])

    def to_dict(self) -> dict:
        return {"edges": self.edges, "counts": self.counts}


@dataclass
class TokenAttribution:
    """How much of each token's log-probability each example accounts for.

    ``contributions[k, t]`` is example ``rows[k]``'s score for token t alone
    (per-token query gradient against the example's preconditioned gradient);
    summed over the selected tokens it gives the example's score for the span.
    """

    tokens: list[str]
    offsets: list[CharSpan]  # character span of each token in the text
    selected: list[bool]
    rows: list[int]
    contributions: np.ndarray  # (len(rows), len(tokens))

    def to_dict(self) -> dict:
        return {
            "tokens": self.tokens,
            "offsets": [list(o) for o in self.offsets],
            "selected": self.selected,
            "rows": self.rows,
            "contributions": [[float(x) for x in row] for row in self.contributions],
        }


@dataclass
class AttributionResult:
    method: str
    combine: str
    damping: str | None
    prompt: str
    text: str
    spans: list[CharSpan]
    selected_text: str
    target_logprob: float | None  # log p of the selected tokens under the final adapter
    checkpoints: list[str]
    train_file: str
    supporting: list[ExampleAttribution]
    opposing: list[ExampleAttribution]
    keywords_supporting: list[tuple[str, float]]
    keywords_opposing: list[tuple[str, float]]
    histogram: Histogram
    rows: np.ndarray  # (n,) data row of each score
    scores: np.ndarray  # (n,) combined scores of every example
    token_level: TokenAttribution | None = None
    # Gradient methods: how the stored gradients were kept (Attributor.gradient_info):
    # dtype, dim, full_dim, projection, exact, chosen ("auto" or "requested"), reason.
    gradients: dict | None = None

    @property
    def approximate_note(self) -> str | None:
        """One line saying that (and why) the scores come from reduced gradients; None when exact."""
        g = self.gradients
        if not g or g.get("exact"):
            return None
        what = f"{g['dtype']} gradients" + (f" projected from {g['full_dim']:,} to {g['dim']:,} values" if g.get("projection") else "")
        why = f" ({g['reason']})" if g.get("chosen") == "auto" and g.get("reason") else ""
        return f"approximate scores: {what}{why}"

    def to_dict(self, include_all_scores: bool = False) -> dict:
        data = {
            "schema": SCHEMA_VERSION,
            "method": self.method,
            "combine": self.combine,
            "damping": self.damping,
            "prompt": self.prompt,
            "text": self.text,
            "spans": [list(s) for s in self.spans],
            "selected_text": self.selected_text,
            "target_logprob": self.target_logprob,
            "checkpoints": self.checkpoints,
            "train_file": self.train_file,
            "n_examples": int(len(self.scores)),
            "supporting": [e.to_dict() for e in self.supporting],
            "opposing": [e.to_dict() for e in self.opposing],
            "keywords": {
                "supporting": [[w, s] for w, s in self.keywords_supporting],
                "opposing": [[w, s] for w, s in self.keywords_opposing],
            },
            "histogram": self.histogram.to_dict(),
            "token_level": self.token_level.to_dict() if self.token_level else None,
            "gradients": self.gradients,
        }
        if include_all_scores:
            data["all_scores"] = {"rows": [int(r) for r in self.rows], "scores": [float(s) for s in self.scores]}
        return data

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), ensure_ascii=False, indent=2)

    def to_pandas(self):
        """One row per shown example (supporting first), for notebooks."""
        import pandas as pd

        records = []
        for side, items in (("supporting", self.supporting), ("opposing", self.opposing)):
            for e in items:
                records.append(
                    {
                        "side": side,
                        "row": e.row,
                        "score": e.score,
                        "normalized": e.normalized,
                        "sign_agreement": e.sign_agreement,
                        "rank_spread": e.rank_spread,
                        **{f"ckpt_{i}": s for i, s in enumerate(e.checkpoint_scores)},
                        "spans": "; ".join(s.span.text for s in e.spans),
                        **e.fields,
                    }
                )
        return pd.DataFrame.from_records(records)

    def all_scores_frame(self):
        import pandas as pd

        return pd.DataFrame({"row": self.rows, "score": self.scores})

    def _repr_html_(self) -> str:
        from .html import attribution_html

        return attribution_html(self)


@dataclass
class ComparedExample:
    """An example that pushes toward one side of a comparison and away from the other."""

    row: int
    model_normalized: float
    user_normalized: float
    fields: dict[str, str]
    range: Range

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "model_normalized": self.model_normalized,
            "user_normalized": self.user_normalized,
            "fields": self.fields,
            "range": self.range.to_dict(),
        }


@dataclass
class CompareResult:
    prompt: str
    model_text: str
    user_text: str
    diff: list[DiffPart]
    model: AttributionResult  # attribution of the model's differing spans
    user: AttributionResult  # attribution of the user's differing spans
    favour_model: list[ComparedExample]  # support the model's text, oppose the user's
    favour_user: list[ComparedExample]  # support the user's text, oppose the model's

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "prompt": self.prompt,
            "model_text": self.model_text,
            "user_text": self.user_text,
            "diff": [p.to_dict() for p in self.diff],
            "model": self.model.to_dict(),
            "user": self.user.to_dict(),
            "favour_model": [e.to_dict() for e in self.favour_model],
            "favour_user": [e.to_dict() for e in self.favour_user],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_pandas(self):
        import pandas as pd

        records = [{"favours": "model", **e.to_dict()} for e in self.favour_model]
        records += [{"favours": "user", **e.to_dict()} for e in self.favour_user]
        return pd.DataFrame.from_records(records)

    def _repr_html_(self) -> str:
        from .html import compare_html

        return compare_html(self)
