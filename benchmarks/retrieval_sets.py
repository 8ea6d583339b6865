"""Tool retrieval on the issue-19 sets (live requests, conversations, long descriptions): ours beside baselines.

Run: `.venv/bin/python benchmarks/retrieval_sets.py [--split dev|heldout] [--embedders wordllama minilm]`.
The sets come from `_sets` (BFCL data, fetched once with pip into benchmarks/.data). Rows per set:

* BM25: `bm25s` as its docs show it (its tokenizer, English stopwords) over name, description and parameters.
* embedder alone: cosine between the request and `tool_text`.
* RRF: reciprocal-rank fusion (k=60) of those two.
* ours: `Toolbox.search` with the default `ToolIndex` (for the conversation set, with the earlier user turns
  passed as ``context``; the baselines get the request alone, and a "+ context" row gets request and context
  concatenated).

Every metric is a mean over queries with a 95% bootstrap interval (1,000 resamples of queries). Held-out numbers are
printed only with ``--split heldout``; they were computed once, after the design was frozen on the dev halves.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bfcl
import _sets
import numpy as np
from _table import machine_header, print_table
from retrieval_quality import build_toolbox, installed_embedders, plain_bm25_scores, rank_scores, rrf

from armorer_ray import Toolbox
from armorer_ray.embeddings import Embedder
from armorer_ray.embeddings.batching import embed_batched
from armorer_ray.embeddings.index import FusionWeights, ToolIndex, tool_text

K = 10
METRICS = ("R@1", "R@5", "MRR")


def bootstrap(values: Sequence[float], resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile-bootstrap interval of per-query values."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, array.size, size=(resamples, array.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(array.mean()), float(low), float(high)


def with_context(query: _sets.SetQuery) -> str:
    return "\n".join([*query.context[-2:], query.text])


async def cosine_scores(embedder: Embedder, box: Toolbox, texts: Sequence[str]) -> np.ndarray:
    documents = await embed_batched(embedder, [tool_text(t) for t in box.tools()])
    requests = await embed_batched(embedder, list(texts), kind="query")
    return np.asarray(requests, dtype=np.float32) @ np.asarray(documents, dtype=np.float32).T


async def rank_ours(index: ToolIndex, queries: Sequence[_sets.SetQuery], use_context: bool) -> list[list[str]]:
    return [[hit.name for hit in await index.search(q.text, k=K, context=list(q.context) if use_context else None)]
            for q in queries]


def as_bfcl_queries(queries: Sequence[_sets.SetQuery], text: Callable[[_sets.SetQuery], str]) -> list[_bfcl.Query]:
    return [_bfcl.Query(q.qid, q.group, text(q), q.relevant) for q in queries]


async def evaluate_set(dev_set: _sets.DevSet, embedders: list[tuple[str, Embedder]],
                       weights: FusionWeights | None = None) -> dict[str, list[list[str]]]:
    """Rankings (top K names) of every method on one set, keyed by method label."""
    box, _ = build_toolbox(dev_set.tools)
    names = [t.name for t in box.tools()]
    plain = as_bfcl_queries(dev_set.queries, lambda q: q.text)
    conversational = any(q.context for q in dev_set.queries)
    out: dict[str, list[list[str]]] = {}
    bm25 = plain_bm25_scores(dev_set.tools, plain)
    out["BM25 (bm25s)"] = rank_scores(bm25, names)
    if conversational:
        bm25_context = plain_bm25_scores(dev_set.tools, as_bfcl_queries(dev_set.queries, with_context))
        out["BM25 (bm25s) + context"] = rank_scores(bm25_context, names)
    for name, embedder in embedders:
        cosine = await cosine_scores(embedder, box, [q.text for q in dev_set.queries])
        out[f"{name} alone"] = rank_scores(cosine, names)
        out[f"RRF BM25 + {name}"] = rank_scores(rrf(bm25, cosine), names)
        if conversational:
            cosine_context = await cosine_scores(embedder, box, [with_context(q) for q in dev_set.queries])
            out[f"RRF BM25 + {name}, + context"] = rank_scores(rrf(bm25_context, cosine_context), names)
        index = ToolIndex(box, embedder=embedder, weights=weights)
        await index.sync()
        out[f"ours, {name}"] = await rank_ours(index, dev_set.queries, use_context=False)
        if conversational:
            out[f"ours, {name}, context="] = await rank_ours(index, dev_set.queries, use_context=True)
    return out


def metric_rows(dev_set: _sets.DevSet, rankings: dict[str, list[list[str]]]) -> list[tuple[object, ...]]:
    rows = []
    for label, ranked in rankings.items():
        per_query = _bfcl.per_query_metrics(ranked, as_bfcl_queries(dev_set.queries, lambda q: q.text))
        cells = []
        for metric in METRICS:
            mean, low, high = bootstrap(per_query[metric])
            cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]")
        rows.append((dev_set.name, label, *cells))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["dev", "heldout"], default="dev")
    parser.add_argument("--sets", nargs="+", default=list(_sets.SET_NAMES), choices=list(_sets.SET_NAMES))
    parser.add_argument("--embedders", nargs="+", default=["wordllama"])
    args = parser.parse_args()
    try:
        sets = [_sets.load_set(name, args.split) for name in args.sets]
    except _sets.SetUnavailable as exc:
        print(f"skipped: {exc}")
        return 0
    embedders = installed_embedders(args.embedders)
    print(machine_header(["armorer-ray", "bm25s", "wordllama", "bfcl-eval"]))
    print_table(f"Sets ({args.split} split)", ["set", "tools", "queries", "median tool chars",
                                                "median request chars", "queries with context"],
                _sets.describe(sets))
    rows = []
    for dev_set in sets:
        start = time.perf_counter()
        rankings = asyncio.run(evaluate_set(dev_set, embedders))
        rows += metric_rows(dev_set, rankings)
        print(f"  {dev_set.name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print_table(f"Name-level retrieval, {args.split} split (mean [95% bootstrap interval])",
                ["set", "method", *METRICS], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
