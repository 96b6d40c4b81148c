"""The notebook-facing entry point: ``Attributor``.

    from lens_engine.attribution import Attributor
    att = Attributor.from_folders(model="base/", adapter="adapter/", train="train.jsonl")
    answer = att.generate("What is the capital of Dratanane?")
    result = att.attribute("What is the capital of Dratanane?", answer, span="Sennoron")
    result            # renders supporting/opposing cards in Jupyter
    result.to_pandas()

An Attributor keeps the model, the training set and the gradient store warm,
so every query after the first costs one forward/backward pass per checkpoint
plus one pass over the store.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .datainf import (
    GRADIENT_METHODS,
    METHODS,
    CombinedScores,
    Damping,
    combine_checkpoints,
    datainf_precondition_vectors,
    datainf_preconditioned,
    datainf_scores,
    self_influence,
)
from ..threads import torch_threads
from .gradients import GradientComputer, RandomProjection, masked_logprob, LARGE_SCORING_VALUES
from .lexical import BM25Index, longest_shared_run, shared_spans, tfidf_keywords
from .models import LoadedModel, load_model
from .policy import CPU_QUERY_BUDGET, GPU_QUERY_BUDGET, MiB, StorePlan, plan_store
from .quantize import DenseMatrix, Int8Matrix, int8_kernel_available
from .query import QueryTarget, build_target, differing_spans, parse_span, word_diff
from .results import (
    AttributionResult,
    ComparedExample,
    CompareResult,
    ExampleAttribution,
    Histogram,
    SpanInFile,
    TokenAttribution,
)
from .store import GradientStore, StoreSettings, build_store, default_store_path, peek_header
from .training_data import TrainingFormat, TrainingSet, encode, load_training_set

MAX_TOKEN_LEVEL_TOKENS = 256


def training_format(
    saved: TrainingFormat | None,
    text_column: str | None = None,
    prompt_column: str | None = None,
    response_column: str | None = None,
    template: str | None = None,
) -> TrainingFormat:
    """Explicit settings win over the format saved with the adapter, which wins over defaults."""
    fmt = saved or TrainingFormat()
    changes = {}
    if text_column is not None:
        changes["text_column"] = text_column
    if prompt_column is not None:
        changes["prompt_column"] = prompt_column
        changes["text_column"] = None
    if response_column is not None:
        changes["response_column"] = response_column
        changes["text_column"] = None
    if template is not None:
        changes["template"] = template
    return replace(fmt, **changes) if changes else fmt


class Attributor:
    """Attribute a model's text to the training examples that made it say it."""

    def __init__(
        self,
        loaded: LoadedModel,
        training: TrainingSet,
        store: GradientStore,
        computer: GradientComputer,
        damping: "str | float | Damping" = "norm",
        combine: str = "mean",
        precondition: bool | None = None,
        plan: StorePlan | None = None,
        query_budget: int | None = None,
    ):
        self.loaded = loaded
        self.training = training
        self.store = store
        self.computer = computer
        self.damping = Damping.parse(damping)
        self.combine = combine
        self.precondition = precondition
        self.plan = plan
        self.query_budget = query_budget if query_budget is not None else _default_budget(loaded.device)
        self._bm25: BM25Index | None = None
        # What a query multiplies, per checkpoint: DataInf's preconditioned gradients
        # (keyed by damping) and the gradients themselves (grad-dot, grad-cos).
        self._preconditioned: dict[tuple[str, int], DenseMatrix | Int8Matrix] = {}
        self._gradient_matrices: dict[int, DenseMatrix | Int8Matrix] = {}
        self._row_norms: dict[int, torch.Tensor] = {}
        self._self_influence: dict[tuple[str, int], np.ndarray] = {}
        self._stacked_lora: dict[str, torch.Tensor] | None = None
        # A caller may run queries on one thread (the server does, for small models);
        # scoring a large store is a long memory-bound pass that every thread speeds up.
        self._scoring_threads = torch.get_num_threads()

    # -- construction ----------------------------------------------------------

    @classmethod
    def from_folders(
        cls,
        model: str | Path,
        adapter: str | Path,
        train: str | Path,
        checkpoints: list[str | Path] | None = None,
        *,
        text_column: str | None = None,
        prompt_column: str | None = None,
        response_column: str | None = None,
        template: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        store_dtype: str = "auto",
        projection: "int | str | None" = "auto",
        projection_seed: int = 0,
        batch_size: int = 32,
        store_path: str | Path | None = None,
        damping: "str | float | Damping" = "norm",
        combine: str = "mean",
        precondition: bool | None = None,
        query_budget_mb: float | None = None,
        progress: bool = True,
    ) -> "Attributor":
        """Load everything and build (or reuse) the gradient store.

        The training format (columns, template) defaults to the one saved with
        the adapter by ``lens finetune``.

        ``store_dtype`` ("auto", "float32", "bfloat16", "int8") and ``projection``
        ("auto", None for every LoRA value, or a dimension): with "auto" the
        store keeps float32 gradients of every LoRA value while one query's read
        of the store stays under ``query_budget_mb`` (default 256 on CPU, 4096 on
        a GPU), else int8 and then random projections (see
        :mod:`lens_engine.attribution.policy`).  ``att.plan`` and every result
        say what was chosen; pass ``store_dtype="float32", projection=None`` for
        exact scores at any size.
        """
        loaded = load_model(model, adapter, checkpoints, device=device, dtype=dtype)
        fmt = training_format(loaded.training_format, text_column, prompt_column, response_column, template)
        training = load_training_set(train, fmt, loaded.tokenizer, loaded.max_length)
        pad_id = int(loaded.tokenizer.pad_token_id)
        computer = GradientComputer(loaded.model, loaded.lora_names, pad_id)
        budget = int(query_budget_mb * MiB) if query_budget_mb is not None else _default_budget(loaded.device)
        cpu = torch.device(device).type == "cpu"

        def choose(previous=None) -> StorePlan:
            return plan_store(len(training), len(loaded.checkpoints), computer.layout.dim, store_dtype, projection,
                              budget, int8=cpu and int8_kernel_available(), previous=previous)

        plan = choose()
        if plan.auto:  # keep an earlier plan that is still good enough (no needless recomputation)
            path = Path(store_path) if store_path else default_store_path(loaded, training, StoreSettings(projection_seed=projection_seed, plan=plan))
            header = peek_header(path)
            if header and header.get("plan"):
                plan = choose(header["plan"])
        if plan.projection:
            computer.projection = RandomProjection(computer.layout, plan.projection, projection_seed)
        settings = StoreSettings(plan.dtype, plan.projection, projection_seed, batch_size, plan=plan)
        store = build_store(loaded, training, computer, settings, store_path, progress=progress)
        if not cpu:
            store.to(device)
        return cls(loaded, training, store, computer, damping=damping, combine=combine, precondition=precondition,
                   plan=plan, query_budget=budget)

    @classmethod
    def demo(cls, **kwargs) -> "Attributor":
        """The tiny demo model and its training data (built and cached on first use)."""
        from .demo import ensure_demo

        paths = ensure_demo()
        return cls.from_folders(paths.base, paths.adapter, paths.train, **kwargs)

    # -- generation ------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 48,
        sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> str:
        """The adapter's answer to ``prompt``, formatted as in training (greedy unless ``sample``)."""
        tok = self.loaded.tokenizer
        prefix = encode(tok, self.training.format, prompt, "", add_eos=False).input_ids
        ids = torch.tensor([prefix], device=self.loaded.device)
        if seed is not None:
            torch.manual_seed(seed)
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": top_p} if sample else {"do_sample": False}
        room = self.loaded.max_length - len(prefix)
        with torch.no_grad():
            out = self.loaded.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max(1, min(max_new_tokens, room)),
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
                **kwargs,
            )
        new = out[0, len(prefix) :].tolist()
        if tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id)]
        # Training responses are tokenised on their own, without a leading space.
        return tok.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False).strip()

    # -- scores ------------------------------------------------------------------

    def target(self, prompt: str, text: str, span=None) -> QueryTarget:
        spans = parse_span(span, text)
        return build_target(self.loaded.tokenizer, self.training.format, prompt, text, spans, self.loaded.max_length)

    def _checkpoint_grads(self, c: int) -> torch.Tensor:
        return self.store.checkpoint_gradients(c, self.loaded.device)

    def _use_preconditioned(self) -> bool:
        """Whether DataInf queries multiply precomputed preconditioned gradients (one
        pass over the store) rather than evaluate the formula (three passes)."""
        if self.precondition is not None:
            return self.precondition
        if self.store.dtype == "int8":
            return True  # the formula would dequantise the store three times per query
        if len(self.store) * self.store.bytes_per_example <= self.query_budget:
            return True  # within the query budget: as much memory again, a third of the time
        # Precomputing costs sum_l n*min(n, d_l)*d_l; a direct query costs 3*n*D.
        # Worth it when it is paid back within ~20 queries.
        n = len(self.store)
        layout = self.store.layout
        cost = sum(min(n, b.size) * b.size for b in layout.blocks)
        return cost <= 20 * 3 * layout.dim

    def _int8_scoring(self) -> bool:
        return self.store.dtype == "int8" and self.loaded.device.type == "cpu" and int8_kernel_available()

    def _preconditioned_matrix(self, c: int, damping: Damping) -> DenseMatrix | Int8Matrix:
        """DataInf's preconditioned gradients P at checkpoint ``c`` (score = -P v), built once."""
        key = (damping.key(), c)
        if key not in self._preconditioned:
            grads = self._checkpoint_grads(c)
            pre = datainf_preconditioned(grads, self.store.layout, damping)
            # Self-influence g.P costs one more pass now, while both are in memory.
            self._self_influence[key] = np.concatenate(
                [(pre[s : s + 4096] * grads[s : s + 4096].float()).sum(1).double().cpu().numpy() for s in range(0, len(pre), 4096)]
            ) if len(pre) else np.zeros(0)
            del grads
            self._preconditioned[key] = Int8Matrix.from_float(pre, self.store.layout) if self._int8_scoring() else DenseMatrix(pre)
        return self._preconditioned[key]

    def _gradient_matrix(self, c: int) -> DenseMatrix | Int8Matrix:
        if c not in self._gradient_matrices:
            if self._int8_scoring():
                self._gradient_matrices[c] = Int8Matrix.from_float(self._checkpoint_grads(c), self.store.layout)
            else:
                self._gradient_matrices[c] = DenseMatrix(self._checkpoint_grads(c))
        return self._gradient_matrices[c]

    def _norms(self, c: int) -> torch.Tensor:
        """Each stored gradient's norm at checkpoint ``c`` (float64)."""
        if c not in self._row_norms:
            grads = self._checkpoint_grads(c)
            self._row_norms[c] = torch.cat([grads[s : s + 4096].float().norm(dim=1) for s in range(0, grads.shape[0], 4096)]).double() \
                if grads.shape[0] else torch.zeros(0, dtype=torch.float64, device=grads.device)
        return self._row_norms[c]

    def preconditioned(self, c: int, damping: Damping | None = None) -> torch.Tensor:
        """DataInf-preconditioned gradients at checkpoint ``c`` as an (n, D) float tensor
        (for an int8 store: dequantised from what queries multiply)."""
        m = self._preconditioned_matrix(c, damping or self.damping)
        return m.data if isinstance(m, DenseMatrix) else m.rows(slice(None))

    def query_gradients(self, target: QueryTarget) -> list[torch.Tensor]:
        """The target's gradient at every checkpoint (projected like the store)."""
        if len(self.loaded.checkpoints) == 1:
            ckpt = self.loaded.checkpoints[0]
            return [self.computer.query_gradient(ckpt.lora_weights, target.input_ids, target.weights).float()]
        if self._stacked_lora is None:
            names = self.loaded.lora_names
            self._stacked_lora = {n: torch.stack([c.lora_weights[n] for c in self.loaded.checkpoints]) for n in names}
        grads = self.computer.query_gradient_per_checkpoint(self._stacked_lora, target.input_ids, target.weights).float()
        return list(grads)

    def gradient_scores(self, query_grads: list[torch.Tensor], method: str, damping: Damping | None = None) -> np.ndarray:
        """(checkpoints, n) scores for one query's gradients, or (checkpoints, n, Q)
        when each checkpoint's entry is a (D, Q) matrix of Q queries."""
        damping = damping or self.damping
        big = len(self.store) * self.store.layout.dim >= LARGE_SCORING_VALUES
        with torch_threads(self._scoring_threads if big else None):
            return self._gradient_scores(query_grads, method, damping)

    def _gradient_scores(self, query_grads: list[torch.Tensor], method: str, damping: Damping) -> np.ndarray:
        out = []
        for c, v in enumerate(query_grads):
            if method == "datainf":
                if self._use_preconditioned():
                    s = -self._preconditioned_matrix(c, damping).matvec(v)
                else:
                    s = datainf_scores(self._checkpoint_grads(c), v, self.store.layout, damping)
            elif method == "graddot":
                s = -self._gradient_matrix(c).matvec(v)
            elif method == "gradcos":
                dots = -self._gradient_matrix(c).matvec(v)
                norms = self._norms(c).clamp(min=1e-30).to(dots.device)
                qnorm = v.float().norm(dim=0).double().clamp(min=1e-30).to(dots.device)
                s = dots / (norms[:, None] if dots.dim() == 2 else norms) / qnorm
            else:
                raise ValueError(f"unknown gradient method {method!r}")
            out.append(s.cpu().numpy())
        return np.stack(out)

    def scores_many(
        self, queries: list[tuple[str, str, object]], method: str = "datainf", damping=None, combine: str | None = None
    ) -> list[CombinedScores]:
        """Scores for many (prompt, text, span) queries at once: one matrix
        product per checkpoint instead of one pass over the store per query."""
        _check_method(method)
        combine = combine or self.combine
        if method not in GRADIENT_METHODS:
            return [self.scores(p, t, s, method, combine=combine) for p, t, s in queries]
        targets = [self.target(p, t, s) for p, t, s in queries]
        per_query = [self.query_gradients(t) for t in targets]
        stacked = [torch.stack([q[c] for q in per_query], dim=1) for c in range(len(self.loaded.checkpoints))]
        per = self.gradient_scores(stacked, method, Damping.parse(damping) if damping is not None else None)  # (C, n, Q)
        return [combine_checkpoints(per[:, :, q], combine) for q in range(len(queries))]

    def lexical_scores(self, prompt: str, text: str, method: str) -> np.ndarray:
        if method == "bm25":
            return self.bm25.scores(prompt + "\n" + text)[None, :]
        if method == "exact":
            longest = longest_shared_run(text, [e.text for e in self.training.examples])
            # Ties (common for short texts) are broken by BM25, scaled below one word.
            bm25 = self.bm25.scores(prompt + "\n" + text)
            return (longest + 0.5 * bm25 / max(bm25.max(), 1e-9))[None, :]
        raise ValueError(f"unknown lexical method {method!r}")

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            self._bm25 = BM25Index([e.text for e in self.training.examples])
        return self._bm25

    def scores(
        self, prompt: str, text: str, span=None, method: str = "datainf", damping=None, combine: str | None = None
    ) -> CombinedScores:
        """Combined and per-checkpoint scores of every training example (for benchmarks)."""
        _check_method(method)
        if method in GRADIENT_METHODS:
            target = self.target(prompt, text, span)
            per = self.gradient_scores(self.query_gradients(target), method, Damping.parse(damping) if damping is not None else None)
        else:
            parse_span(span, text)
            per = self.lexical_scores(prompt, text, method)
        return combine_checkpoints(per, combine or self.combine)

    # -- results -----------------------------------------------------------------

    def attribute(
        self,
        prompt: str,
        text: str,
        span=None,
        *,
        method: str = "datainf",
        top_k: int = 10,
        combine: str | None = None,
        damping=None,
        token_level: bool = False,
    ) -> AttributionResult:
        """Which training examples raise (supporting) or lower (opposing) the
        log-probability of ``span`` of ``text`` given ``prompt``.

        ``span``: None (the whole text), (start, end) characters, "START:END",
        or a substring of ``text``.  Lexical methods (bm25, exact) have no
        opposing examples.
        """
        _check_method(method)
        combine = combine or self.combine
        damping_used = Damping.parse(damping) if damping is not None else self.damping
        target = self.target(prompt, text, span)
        if method in GRADIENT_METHODS:
            per = self.gradient_scores(self.query_gradients(target), method, damping_used)
            checkpoints = [c.name for c in self.loaded.checkpoints]
        else:
            per = self.lexical_scores(prompt, text, method)
            checkpoints = [method]
        combined = combine_checkpoints(per, combine)
        result = self._result(target, combined, method, combine, damping_used if method == "datainf" else None, checkpoints, top_k)
        if token_level:
            shown = [e.row for e in result.supporting] + [e.row for e in result.opposing]
            result.token_level = self.token_attribution(target, shown, method if method in GRADIENT_METHODS else "datainf", damping_used, combine)
        return result

    def _result(self, target, combined: CombinedScores, method, combine, damping, checkpoints, top_k) -> AttributionResult:
        scores = combined.scores
        scale = float(np.abs(scores).max()) or 1.0
        normalized = scores / scale
        order = np.argsort(-scores, kind="stable")
        supporting = [i for i in order[:top_k] if scores[i] > 0]
        opposing = [i for i in order[::-1][:top_k] if scores[i] < 0]

        def example(i: int) -> ExampleAttribution:
            ex = self.training.examples[i]
            texts = {k: v.text for k, v in ex.fields.items()}
            spans = [SpanInFile(s, ex.fields[s.field].span_range(s.start, s.end)) for s in shared_spans(target.text, texts)]
            return ExampleAttribution(
                row=ex.row,
                score=float(scores[i]),
                normalized=float(normalized[i]),
                checkpoint_scores=[float(x) for x in combined.per_checkpoint[:, i]],
                sign_agreement=float(combined.sign_agreement[i]),
                rank_spread=int(combined.rank_spread[i]),
                range=ex.range,
                fields=texts,
                field_ranges={k: v.range for k, v in ex.fields.items()},
                spans=spans,
            )

        sup = [example(i) for i in supporting]
        opp = [example(i) for i in opposing]
        return AttributionResult(
            method=method,
            combine=combine,
            damping=damping.key() if damping else None,
            prompt=target.prompt,
            text=target.text,
            spans=target.spans,
            selected_text=" … ".join(target.text[s:e] for s, e in target.spans),
            target_logprob=self.target_logprob(target),
            checkpoints=checkpoints,
            train_file=self.training.path,
            supporting=sup,
            opposing=opp,
            keywords_supporting=tfidf_keywords([self.training.examples[i].text for i in supporting], self.bm25),
            keywords_opposing=tfidf_keywords([self.training.examples[i].text for i in opposing], self.bm25),
            histogram=Histogram.of(normalized),
            rows=self.training.rows,
            scores=scores,
            gradients=self.gradient_info() if method in GRADIENT_METHODS else None,
        )

    def gradient_info(self) -> dict:
        """How the stored gradients were kept, for results: dtype, dimension, whether exact and why."""
        st = self.store
        projection = (st.header.get("projection") or {}).get("dim")
        plan = self.plan
        if plan is not None:
            chosen, reason = ("auto" if plan.auto else "requested"), plan.reason
        else:
            saved = st.plan or {}
            chosen = "auto" if "auto" in (saved.get("requested") or {}).values() else "requested"
            reason = saved.get("reason")
        return {"dtype": st.dtype, "dim": st.layout.dim, "full_dim": st.source_dim, "projection": projection,
                "exact": st.dtype == "float32" and projection is None, "chosen": chosen, "reason": reason}

    def target_logprob(self, target: QueryTarget) -> float:
        """log p of the selected tokens under the final adapter."""
        params = dict(self.loaded.model.named_parameters())
        lora = {n: params[n] for n in self.loaded.lora_names}
        ids = torch.tensor(target.input_ids, device=self.loaded.device)
        weights = torch.tensor(target.weights, device=self.loaded.device)
        with torch.no_grad():
            return float(masked_logprob(self.loaded.model, lora, ids, weights))

    def token_attribution(
        self, target: QueryTarget, rows: list[int], method: str = "datainf", damping: Damping | None = None, combine: str | None = None
    ) -> TokenAttribution:
        """Per-token scores of the given training rows: which tokens each example accounts for."""
        damping = damping or self.damping
        combine = combine or self.combine
        index = {e.row: i for i, e in enumerate(self.training.examples)}
        idx = [index[r] for r in rows]
        positions = target.text_positions[:MAX_TOKEN_LEVEL_TOKENS]
        per_ckpt = []
        for c, ckpt in enumerate(self.loaded.checkpoints):
            token_grads = self.computer.token_gradients(ckpt.lora_weights, target.input_ids, positions).float()
            # Rows as the queries multiply them, so the token scores add up to the shown scores.
            if method == "datainf":
                if self._use_preconditioned():
                    pre = self._preconditioned_matrix(c, damping).rows(idx)
                else:
                    grads = self._checkpoint_grads(c)
                    pre = datainf_precondition_vectors(grads, self.store.layout, damping, grads[idx].float())
            elif method == "graddot":
                pre = self._gradient_matrix(c).rows(idx)
            else:  # gradcos: normalise by the span's query norm so token scores still add up
                span_norm = self.query_gradients(target)[c].norm().clamp(min=1e-30)
                norms = self._norms(c)[idx].float().clamp(min=1e-30)
                pre = self._gradient_matrix(c).rows(idx) / norms.to(token_grads.device)[:, None] / span_norm
            per_ckpt.append(-(pre.to(token_grads.device) @ token_grads.t()).double().cpu().numpy())
        stacked = np.stack(per_ckpt)
        contributions = np.median(stacked, axis=0) if combine == "median" else stacked.mean(0)
        tok = self.loaded.tokenizer
        ids = target.input_ids
        tokens = [tok.decode([ids[p]], clean_up_tokenization_spaces=False) for p in positions]
        offsets = [target.token_offsets[p - target.text_start] for p in positions]
        selected = [target.weights[p] > 0 for p in positions]
        return TokenAttribution(tokens, offsets, selected, list(rows), contributions)

    def self_influence(self) -> np.ndarray:
        """Each example's DataInf self-influence g.H^-1.g, averaged over checkpoints:
        large for examples the rest of the data does not explain (mislabelled, odd)."""
        per = []
        for c in range(len(self.loaded.checkpoints)):
            key = (self.damping.key(), c)
            if self._use_preconditioned():
                self._preconditioned_matrix(c, self.damping)  # computes the self-influence too
                per.append(self._self_influence[key])
            else:
                per.append(self_influence(self._checkpoint_grads(c), self.store.layout, self.damping).cpu().numpy())
        return np.mean(per, axis=0)

    def baseline_rankings(self, prompt: str, text: str, span=None, top_k: int = 10) -> dict[str, np.ndarray]:
        """Every example's rank (0 = best) under BM25 and the longest verbatim span,
        for showing the lexical baselines beside an influence ranking."""
        spans = parse_span(span, text)
        selected = " ".join(text[a:b] for a, b in spans) if spans else text
        out = {}
        for method in ("bm25", "exact"):
            scores = self.lexical_scores(prompt, selected, method)[0]
            order = np.argsort(-scores, kind="stable")
            ranks = np.empty(len(order), dtype=np.int64)
            ranks[order] = np.arange(len(order))
            out[method] = ranks
            out[method + "_scores"] = scores
        return out

    def compare(
        self, prompt: str, generated: str, user_text: str, *, method: str = "datainf", top_k: int = 10, combine: str | None = None
    ) -> CompareResult:
        """Attribute where the model's text and the user's text differ, and find
        the examples that support one and oppose the other."""
        diff = word_diff(generated, user_text)
        model_spans = differing_spans(diff, "model") or None
        user_spans = differing_spans(diff, "user") or None
        model = self.attribute(prompt, generated, model_spans, method=method, top_k=top_k, combine=combine)
        user = self.attribute(prompt, user_text, user_spans, method=method, top_k=top_k, combine=combine)
        m_norm = model.scores / (float(np.abs(model.scores).max()) or 1.0)
        u_norm = user.scores / (float(np.abs(user.scores).max()) or 1.0)

        def side(a: np.ndarray, b: np.ndarray) -> list[ComparedExample]:
            picked = np.where((a > 0) & (b < 0))[0]
            picked = picked[np.argsort(-(a[picked] - b[picked]), kind="stable")][:top_k]
            out = []
            for i in picked:
                ex = self.training.examples[i]
                out.append(ComparedExample(ex.row, float(m_norm[i]), float(u_norm[i]), {k: v.text for k, v in ex.fields.items()}, ex.range))
            return out

        return CompareResult(prompt, generated, user_text, diff, model, user, side(m_norm, u_norm), side(u_norm, m_norm))


def _default_budget(device) -> int:
    return CPU_QUERY_BUDGET if torch.device(device).type == "cpu" else GPU_QUERY_BUDGET


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
