"""The attribution lens's warm state: one Attributor, its answers cache and recent results.

The model, the training set and the gradient store load on first use, on their own
thread (a minutes-long store build never holds up the dataset analyses), and stay
until a `lens.attribution.*` setting changes.  Everything here runs on that thread
except the small bookkeeping the features read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lens_engine.source import LineIndex, Position, Range

log = logging.getLogger("lens.attribution")

USER_ERROR = -32001  # an error the user can fix in their settings or files
RECENT = 20
CACHE_SIZE = 64
OUTLIER_Z = 3.5
METHODS = ("datainf", "graddot", "gradcos", "bm25", "exact")
GRADIENT_STORES = ("auto", "exact")  # lens.attribution.gradientStore
SMALL_MODEL_PARAMETERS = 50_000_000


@dataclass(frozen=True)
class AttributionSettings:
    """`lens.attribution.*`, with relative paths resolved against the workspace."""

    model: str = ""
    adapter: str = ""
    checkpoints: tuple[str, ...] = ()
    training_data: str = ""
    prompt_template: str = ""
    method: str = "datainf"
    top_k: int = 10
    device: str = "auto"
    outlier_z: float = OUTLIER_Z
    gradient_store: str = "auto"  # "exact": float32 gradients of every LoRA value at any size

    @property
    def configured(self) -> bool:
        return bool(self.model or self.adapter or self.training_data)

    def load_key(self) -> tuple:
        """What the warm model depends on (method and top-K don't)."""
        return (self.model, self.adapter, self.checkpoints, self.training_data, self.prompt_template, self.device,
                self.gradient_store)


def attribution_settings(values: dict | None, root: str | None) -> tuple[AttributionSettings, list[str]]:
    values = values if isinstance(values, dict) else {}
    problems: list[str] = []

    def path(key: str) -> str:
        value = values.get(key) or ""
        if not isinstance(value, str):
            problems.append(f"lens.attribution.{key} must be a path, not {value!r}")
            return ""
        value = str(Path(value).expanduser()) if value else ""
        if value and root and not Path(value).is_absolute():
            value = str(Path(root) / value)
        return value

    checkpoints = values.get("checkpoints") or []
    if isinstance(checkpoints, str):
        checkpoints = [checkpoints]
    method = values.get("method") or "datainf"
    if method not in METHODS:
        problems.append(f"lens.attribution.method must be one of {', '.join(METHODS)}, not {method!r}")
        method = "datainf"
    top_k = values.get("topK", 10)
    if not isinstance(top_k, int) or top_k < 1:
        problems.append(f"lens.attribution.topK must be a positive whole number, not {top_k!r}")
        top_k = 10
    template = values.get("promptTemplate") or ""
    if template and "{prompt}" not in template:
        problems.append(f"lens.attribution.promptTemplate must contain {{prompt}}: {template!r}")
        template = ""
    outlier_z = values.get("outlierThreshold", OUTLIER_Z)
    if not isinstance(outlier_z, (int, float)) or outlier_z <= 0:
        problems.append(f"lens.attribution.outlierThreshold must be a positive number, not {outlier_z!r}")
        outlier_z = OUTLIER_Z
    gradient_store = values.get("gradientStore") or "auto"
    if gradient_store not in GRADIENT_STORES:
        problems.append(f"lens.attribution.gradientStore must be one of {', '.join(GRADIENT_STORES)}, not {gradient_store!r}")
        gradient_store = "auto"
    resolved = [p for p in (_resolve(c, root) for c in checkpoints if isinstance(c, str) and c) if p]
    settings = AttributionSettings(
        model=path("model"), adapter=path("adapter"), checkpoints=tuple(resolved),
        training_data=path("trainingData"), prompt_template=template.replace("\\n", "\n"),
        method=method, top_k=min(top_k, 100), device=str(values.get("device") or "auto"),
        outlier_z=float(outlier_z), gradient_store=gradient_store,
    )
    return settings, problems


def _resolve(value: str, root: str | None) -> str:
    p = Path(value).expanduser()
    return str(Path(root) / p) if root and not p.is_absolute() else str(p)


class UserError(Exception):
    """Something the user can fix (settings, files); answered as LSP error -32001
    with ``data.reason`` (``no-prompt`` when the client should ask for the prompt)."""

    def __init__(self, message: str, reason: str = "user"):
        super().__init__(message)
        self.reason = reason


class Cancelled(Exception):
    pass


@dataclass
class SessionState:
    state: str = "unconfigured"  # unconfigured | idle | loading | ready | error
    device: str = "cpu"
    message: str = ""
    examples: int | None = None
    checkpoints: int | None = None

    def to_dict(self) -> dict:
        d = {"state": self.state, "device": self.device, "message": self.message}
        if self.examples is not None:
            d["examples"] = self.examples
            d["checkpoints"] = self.checkpoints
        return d


@dataclass
class Outlier:
    row: int
    range: Range
    value: float
    z: float


@dataclass
class Recent:
    """One answered attribution, for the reverse view in the training file."""

    id: str
    uri: str
    selected_text: str
    span_ranges: list[dict]
    method: str
    supporting: list[tuple[int, float]]  # (row, normalized), best first
    opposing: list[tuple[int, float]]

    def to_dict(self) -> dict:
        return {"id": self.id, "uri": self.uri, "selectedText": self.selected_text, "spanRanges": self.span_ranges,
                "method": self.method, "supporting": [r for r, _ in self.supporting],
                "opposing": [r for r, _ in self.opposing]}


@dataclass
class Query:
    """A request's target, located in the client's document."""

    uri: str
    prompt: str
    source: str
    text: str
    spans: list[tuple[int, int]]
    text_range: Range
    span_ranges: list[Range]
    lines: LineIndex
    text_start: int


class AttributionSession:
    def __init__(self) -> None:
        self.settings = AttributionSettings()
        self.status = SessionState()
        self.attributor = None
        self._key: tuple | None = None
        self._lock = threading.Lock()  # one model use at a time: torch modules aren't re-entrant
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self.recent: deque[Recent] = deque(maxlen=RECENT)
        self.self_influence: np.ndarray | None = None
        self.train_uri: str | None = None
        self.row_ranges: dict[int, Range] = {}
        self._counter = 0

    # -- loading -------------------------------------------------------------------

    def configure(self, settings: AttributionSettings) -> bool:
        """Take new settings; True when the warm model must be dropped."""
        changed = settings.load_key() != self.settings.load_key()
        self.settings = settings
        if changed:
            with self._lock:
                self.attributor, self._key = None, None
                self._cache.clear()
                self.recent.clear()
                self.self_influence, self.train_uri, self.row_ranges = None, None, {}
            self.status = SessionState("unconfigured" if not settings.configured else "idle")
            if settings.configured:
                self.status.message = "the attribution model loads on first use"
        return changed

    def device(self) -> str:
        want = self.settings.device
        if want and want != "auto":
            return want
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def ensure_loaded(self, progress=None):
        """The warm Attributor, loading it (model, training set, gradient store) if needed."""
        s = self.settings
        if not s.configured:
            raise UserError("the attribution lens is not configured: set lens.attribution.model, "
                            "lens.attribution.adapter and lens.attribution.trainingData "
                            "(or run `lens demo --workspace DIR` and open DIR)")
        missing = [name for name, value in (("model", s.model), ("adapter", s.adapter), ("trainingData", s.training_data))
                   if not value]
        if missing:
            raise UserError("set " + ", ".join(f"lens.attribution.{m}" for m in missing))
        with self._lock:
            if self.attributor is not None and self._key == s.load_key():
                return self.attributor
            from lens_engine.attribution import Attributor, AttributionError

            device = self.device()
            self.status = SessionState("loading", device, "loading the model and the gradient store")
            if progress:
                progress("loading the model", None)
            started = time.perf_counter()
            try:
                exact = {"store_dtype": "float32", "projection": None} if s.gradient_store == "exact" else {}
                attributor = Attributor.from_folders(
                    s.model, s.adapter, s.training_data, list(s.checkpoints) or None,
                    template=s.prompt_template or None, device=device, progress=False, **exact)
            except AttributionError as err:
                self.status = SessionState("error", device, str(err))
                raise UserError(str(err)) from err
            except (OSError, ValueError) as err:
                self.status = SessionState("error", device, str(err))
                raise UserError(f"could not load the attribution model: {err}") from err
            self.attributor, self._key = attributor, s.load_key()
            self._index_training(attributor)
            seconds = time.perf_counter() - started
            self.status = SessionState("ready", device, f"attribution model ready ({seconds:.1f} s)",
                                       len(attributor.training), len(attributor.loaded.checkpoints))
            log.info("attribution model loaded in %.1f s: %d examples, %d checkpoints on %s",
                     seconds, len(attributor.training), len(attributor.loaded.checkpoints), device)
            return attributor

    def _index_training(self, attributor) -> None:
        from pygls.uris import from_fs_path

        self.train_uri = from_fs_path(str(Path(attributor.training.path).resolve()))
        self.row_ranges = {e.row: e.range for e in attributor.training.examples}
        try:
            self.self_influence = attributor.self_influence()
        except Exception:  # outliers are a bonus; attribution must still work
            log.exception("self-influence failed")
            self.self_influence = None

    @property
    def outliers(self) -> list["Outlier"]:
        att = self.attributor
        if att is None or self.self_influence is None:
            return []
        return self_influence_outliers(self.self_influence, att.training.examples, self.settings.outlier_z)

    # -- queries -------------------------------------------------------------------

    def locate(self, uri: str, document: str, sel: Range, prompt: str | None) -> Query:
        from lens_engine.attribution.errors import AttributionError
        from lens_engine.attribution.locate import PromptNotFoundError, locate_answer

        att = self.attributor
        template = self.settings.prompt_template or (att.training.format.template if att else None)
        if att is not None and att.training.format.is_text:
            template = self.settings.prompt_template or None
        lines = LineIndex(document)
        start, end = lines.offset(sel.start), lines.offset(sel.end)
        try:
            found = locate_answer(document, start, end, template, prompt)
        except PromptNotFoundError as err:
            raise UserError(str(err), "no-prompt") from err
        except AttributionError as err:
            raise UserError(str(err)) from err
        base = found.text_start
        return Query(uri, found.prompt, found.source, found.text, found.spans,
                     lines.range(base, found.text_end),
                     [lines.range(base + a, base + b) for a, b in found.spans], lines, base)

    @contextmanager
    def query_threads(self):
        """One intra-op thread for queries on a small model: its many tiny kernels cost
        more in thread wake-ups (the server's OMP_WAIT_POLICY=PASSIVE) than they gain
        (demo model: 117 ms instead of 211 ms per attribution with token scores)."""
        import torch

        att = self.attributor
        small = att is not None and sum(p.numel() for p in att.loaded.model.parameters()) < SMALL_MODEL_PARAMETERS
        before = torch.get_num_threads()
        if small and before > 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)

    def _next_id(self) -> str:
        self._counter += 1
        return f"a{self._counter}"

    def attribute(self, q: Query, method: str | None, top_k: int | None, token_level: bool,
                  should_stop=lambda: False) -> dict:
        att = self.ensure_loaded()
        method = method or self.settings.method
        top_k = top_k or self.settings.top_k
        key = ("attribute", self._key, q.prompt, q.text, tuple(q.spans), method, top_k, token_level)
        started = time.perf_counter()

        def compute() -> dict:
            result = att.attribute(q.prompt, q.text, q.spans, method=method, top_k=top_k,
                                   token_level=token_level and method not in ("bm25", "exact"))
            return self._result_dict(att, result, q, top_k)

        data, cached = self._answer(key, compute, should_stop)
        view = self._view(q, started, cached)
        view["result"] = data
        self._remember(view["id"], q, method, data)
        return view

    def compare(self, q: Query, user_text: str, method: str | None, top_k: int | None,
                should_stop=lambda: False) -> dict:
        att = self.ensure_loaded()
        method = method or self.settings.method
        top_k = top_k or self.settings.top_k
        model_text = q.text[q.spans[0][0]:q.spans[-1][1]] if q.spans else q.text
        key = ("compare", self._key, q.prompt, model_text, user_text, method, top_k)
        started = time.perf_counter()

        def compute() -> dict:
            from lens_engine.attribution.errors import AttributionError

            try:
                result = att.compare(q.prompt, model_text, user_text, method=method, top_k=top_k)
            except AttributionError as err:
                raise UserError(str(err)) from err
            data = result.to_dict()
            data["model"] = self._result_dict(att, result.model, None, top_k)
            data["user"] = self._result_dict(att, result.user, None, top_k)
            for side in ("favour_model", "favour_user"):
                for item in data[side]:
                    item["location"] = self._location(item["row"])
            return data

        data, cached = self._answer(key, compute, should_stop)
        view = self._view(q, started, cached)
        view["compare"] = data
        return view

    def generate(self, prompt: str, max_new_tokens: int = 48) -> dict:
        att = self.ensure_loaded()
        started = time.perf_counter()
        key = ("generate", self._key, prompt, max_new_tokens)
        # Greedy decoding: the same prompt, the same answer.
        text, _ = self._answer(key, lambda: att.generate(prompt, max_new_tokens=max_new_tokens))
        fmt = att.training.format
        prefix = fmt.prompt_prefix(prompt) if not fmt.is_text else prompt
        if self.settings.prompt_template:
            prefix = self.settings.prompt_template.replace("{prompt}", prompt)
        separator = "" if prefix.endswith((" ", "\n")) else " "
        insert = prefix + separator + text + "\n"
        from lens_engine.source import utf16_len

        return {"prompt": prompt, "text": text, "insertText": insert,
                "answerOffset": utf16_len(prefix + separator),
                "elapsedMs": round((time.perf_counter() - started) * 1000, 1)}

    def token_scores(self, q: Query, rows: list[int] | None, should_stop=lambda: False) -> dict:
        att = self.ensure_loaded()
        method = self.settings.method if self.settings.method in ("datainf", "graddot", "gradcos") else "datainf"
        with self._lock:
            target = att.target(q.prompt, q.text, q.spans)
            if not rows:
                combined = att.scores(q.prompt, q.text, q.spans, method)
                order = np.argsort(-combined.scores, kind="stable")
                k = self.settings.top_k
                rows = [int(att.training.rows[i]) for i in list(order[:k]) + list(order[::-1][:k])]
            known = set(int(r) for r in att.training.rows)
            unknown = [r for r in rows if r not in known]
            if unknown:
                raise UserError(f"rows {unknown[:5]} are not training examples")
            if should_stop():
                raise Cancelled()
            tokens = att.token_attribution(target, rows, method).to_dict()
        tokens["ranges"] = [q.lines.range(q.text_start + a, q.text_start + b).to_dict() for a, b in tokens["offsets"]]
        return tokens

    # -- bookkeeping ------------------------------------------------------------------

    def _answer(self, key: tuple, compute, should_stop=lambda: False) -> tuple[object, bool]:
        """(the answer for ``key``, whether it came from the cache); computing holds the model lock."""
        cached = self._cached(key)
        if cached is not None:
            return cached, True
        if should_stop():
            raise Cancelled()
        with self._lock:
            data = compute()
        self._store(key, data)
        return data, False

    def _cached(self, key: tuple):
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
        return data

    def _store(self, key: tuple, data) -> None:
        self._cache[key] = data
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _view(self, q: Query, started: float, cached: bool) -> dict:
        return {
            "id": self._next_id(), "uri": q.uri, "prompt": q.prompt, "promptSource": q.source,
            "textRange": q.text_range.to_dict(), "spanRanges": [r.to_dict() for r in q.span_ranges],
            "trainUri": self.train_uri, "device": self.status.device,
            "elapsedMs": round((time.perf_counter() - started) * 1000, 1), "cached": cached,
        }

    def _location(self, row: int) -> dict:
        r = self.row_ranges.get(row)
        rng = r.to_dict() if r else Range(Position(0, 0), Position(0, 0)).to_dict()
        return {"uri": self.train_uri, "range": rng}

    def _result_dict(self, att, result, q: Query | None, top_k: int) -> dict:
        """The engine's result plus what the editor needs: locations, baseline rankings,
        token ranges in the document."""
        data = result.to_dict()
        ranks = att.baseline_rankings(result.prompt, result.text, result.spans, top_k)
        index = {int(r): i for i, r in enumerate(att.training.rows)}
        influence_order = np.argsort(-result.scores, kind="stable")
        influence_rank = np.empty(len(influence_order), dtype=np.int64)
        influence_rank[influence_order] = np.arange(len(influence_order))
        for side in ("supporting", "opposing"):
            for item in data[side]:
                i = index[item["row"]]
                item["location"] = self._location(item["row"])
                item["baseline_ranks"] = {"bm25": int(ranks["bm25"][i]) + 1, "exact": int(ranks["exact"][i]) + 1}
        baselines = {}
        for method in ("bm25", "exact"):
            order = np.argsort(ranks[method], kind="stable")[:top_k]
            baselines[method] = [{
                "row": int(att.training.rows[i]), "score": float(ranks[method + "_scores"][i]),
                "influence_rank": int(influence_rank[i]) + 1,
                "fields": {k: v.text for k, v in att.training.examples[i].fields.items()},
                "location": self._location(int(att.training.rows[i])),
            } for i in order]
        data["baselines"] = baselines
        if q is not None and data.get("token_level"):
            tl = data["token_level"]
            tl["ranges"] = [q.lines.range(q.text_start + a, q.text_start + b).to_dict() for a, b in tl["offsets"]]
        return data

    def _remember(self, id_: str, q: Query, method: str, data: dict) -> None:
        selected = " … ".join(q.text[a:b] for a, b in q.spans)
        spans = [r.to_dict() for r in q.span_ranges]
        for old in [r for r in self.recent if r.uri == q.uri and r.span_ranges == spans and r.method == method]:
            self.recent.remove(old)  # the same question again: keep only the newest
        self.recent.appendleft(Recent(
            id_, q.uri, selected, spans, method,
            [(e["row"], e["normalized"]) for e in data["supporting"]],
            [(e["row"], e["normalized"]) for e in data["opposing"]]))

    def influenced(self, row: int) -> list[tuple[Recent, str, int, float]]:
        """Recent attributions that ``row`` appears in: (attribution, side, rank, normalized)."""
        out = []
        for rec in self.recent:
            for side, items in (("supports", rec.supporting), ("opposes", rec.opposing)):
                for rank, (r, norm) in enumerate(items):
                    if r == row:
                        out.append((rec, side, rank + 1, norm))
        return out


def self_influence_outliers(values: np.ndarray, examples, z_threshold: float = OUTLIER_Z) -> list[Outlier]:
    """Rows whose log self-influence is far above the rest (robust z: median and MAD)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 8:
        return []
    logs = np.log(np.clip(values, 1e-30, None))
    median = float(np.median(logs))
    mad = float(np.median(np.abs(logs - median))) * 1.4826
    if mad <= 0:
        return []
    z = (logs - median) / mad
    picked = np.where(z > z_threshold)[0]
    return [Outlier(examples[i].row, examples[i].range, float(values[i]), float(z[i]))
            for i in picked[np.argsort(-z[picked])]]
