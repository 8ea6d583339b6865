"""Tool-retrieval benchmark built from the BFCL data shipped in the ``bfcl-eval`` wheel.

The Berkeley Function Calling Leaderboard (Apache-2.0) publishes its data inside the
PyPI package ``bfcl-eval``.  This module turns it into a *tool retrieval* benchmark:

* **Pool** – every function definition found in the ``question`` files (the top-level
  ``BFCL_v*_<category>.json`` files that carry a ``function`` list), one tool per name.
* **Queries** – for each question in a chosen category, the text of the user messages of
  its first turn.
* **Relevance** – the set of function *names* called in the question's ground truth
  (``possible_answer/BFCL_v*_<category>.json``).

Only :data:`DEV_CATEGORIES` are used for development.  The ``live_*`` categories are a
held-out test: :func:`load_benchmark` refuses them unless ``allow_heldout=True``, and
nothing in ``benchmarks/retrieval_research.py`` loads them.  Multi-turn categories carry
no function definitions in their question files (only class names) and are not supported.

Duplicate names.  The same name is defined several times (1,853 names for ~8,800
definitions in ``bfcl-eval`` 2026.3.23), and for ~500 names the definitions differ, from
cosmetic changes (parameter order, ``dict`` vs ``object``) to a different meaning
(``calculate_density`` of a substance vs. of a population).  A registry holds one tool per
name and recall is scored on names, so the pool keeps exactly one definition per name:
the one that occurs most often (compared as canonical JSON); ties go to the first
occurrence in sorted file order, then line order.  That rule does not look at which
category a definition came from, so it neither favours nor penalises the dev queries;
the few queries whose own definition lost (see :attr:`Benchmark.stats`) are left in
as realistic label noise.

Data is fetched with ``pip download bfcl-eval --no-deps`` into ``benchmarks/.data``
(git-ignored) the first time and reused afterwards; nothing else touches the network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / ".data"
"""Cache directory for the wheel, its unpacked data and embedding caches (git-ignored)."""

BFCL_PACKAGE = "bfcl-eval"
BFCL_VERSION = "2026.3.23"
"""The version every number in ``docs/retrieval-research.md`` was measured on."""

DEV_CATEGORIES: tuple[str, ...] = (
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
)
HELDOUT_PREFIXES: tuple[str, ...] = ("live_", "multi_turn")
"""Categories starting with these are held out: never tuned on, never reported."""

_FILE_RE = re.compile(r"^BFCL_v\d+_(?P<category>.+)\.jsonl?$")


@dataclass(frozen=True)
class Tool:
    """One function definition of the pool."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    source: str
    """Category of the question file the kept definition came from."""

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any], source: str) -> Tool:
        params = definition.get("parameters") or {}
        return cls(
            name=str(definition["name"]),
            description=str(definition.get("description") or ""),
            parameters=params if isinstance(params, Mapping) else {},
            source=source,
        )

    def parameter_items(self) -> list[tuple[str, str]]:
        """Top-level ``(parameter name, description)`` pairs, in definition order."""
        props = self.parameters.get("properties") or {}
        if not isinstance(props, Mapping):
            return []
        out: list[tuple[str, str]] = []
        for pname, spec in props.items():
            desc = spec.get("description", "") if isinstance(spec, Mapping) else ""
            out.append((str(pname), str(desc or "")))
        return out


@dataclass(frozen=True)
class Query:
    """One benchmark query: user text and the names of the tools it needs."""

    qid: str
    category: str
    text: str
    relevant: frozenset[str]


@dataclass
class Benchmark:
    """Pool + queries, plus counts describing how they were built."""

    tools: dict[str, Tool]
    queries: list[Query]
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def tool_names(self) -> list[str]:
        return list(self.tools)


# --------------------------------------------------------------------------- download


def ensure_wheel(cache_dir: Path = DATA_DIR, version: str | None = BFCL_VERSION) -> Path:
    """Return the path of the cached ``bfcl-eval`` wheel, running ``pip download`` if absent.

    ``version=None`` takes whatever the registry serves as latest.
    """
    pip_dir = cache_dir / "pip"
    pattern = f"bfcl_eval-{version}-*.whl" if version else "bfcl_eval-*.whl"
    found = sorted(pip_dir.glob(pattern))
    if found:
        return found[-1]
    pip_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{BFCL_PACKAGE}=={version}" if version else BFCL_PACKAGE
    cmd = [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:", "-d", str(pip_dir)]
    subprocess.run(cmd, check=True)
    found = sorted(pip_dir.glob(pattern))
    if not found:
        raise FileNotFoundError(f"pip download of {spec} produced no wheel in {pip_dir}")
    return found[-1]


def unpack_data(wheel: Path, cache_dir: Path = DATA_DIR) -> Path:
    """Extract the wheel's ``bfcl_eval/data`` tree (once) and return that data directory."""
    dest = cache_dir / wheel.name.removesuffix(".whl")
    data_dir = dest / "bfcl_eval" / "data"
    marker = dest / ".complete"
    if marker.exists():
        return data_dir
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith("bfcl_eval/data/")]
        if not members:
            raise FileNotFoundError(f"{wheel} has no bfcl_eval/data/ directory")
        zf.extractall(dest, members=members)
    marker.touch()
    return data_dir


def ensure_data(cache_dir: Path = DATA_DIR, version: str | None = BFCL_VERSION) -> Path:
    """Download (if needed) and unpack the BFCL data; return its ``data`` directory."""
    return unpack_data(ensure_wheel(cache_dir, version), cache_dir)


# --------------------------------------------------------------------------- parsing


def category_files(directory: Path) -> dict[str, Path]:
    """Map category name -> file for the ``BFCL_v*_<category>.json(l)`` files in ``directory``."""
    out: dict[str, Path] = {}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        m = _FILE_RE.match(path.name)
        if m and path.is_file():
            out[m.group("category")] = path
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]] | None:
    """Records of a JSON-lines file, or ``None`` if the file is not JSON lines of objects.

    (``BFCL_v4_format_sensitivity.json`` is a single pretty-printed JSON document.)
    """
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                return None
            if not isinstance(rec, dict):
                return None
            records.append(rec)
    return records


def _canonical(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, ensure_ascii=False)


def build_pool(question_files: Mapping[str, Path]) -> tuple[dict[str, Tool], dict[str, int]]:
    """One :class:`Tool` per function name found in any question file.

    Returns the pool (ordered by first appearance) and counts:
    ``definitions`` (all seen), ``names``, ``names_with_variants`` (names defined in more
    than one way).
    """
    variants: dict[str, Counter[str]] = {}
    first_seen: dict[str, dict[str, int]] = {}
    source_of: dict[str, str] = {}
    order = 0
    n_defs = 0
    for category, path in sorted(question_files.items(), key=lambda kv: kv[1].name):
        records = read_jsonl(path)
        for rec in records or []:
            for definition in rec.get("function") or []:
                if not isinstance(definition, Mapping) or "name" not in definition:
                    continue
                n_defs += 1
                name = str(definition["name"])
                key = _canonical(definition)
                variants.setdefault(name, Counter())[key] += 1
                seen = first_seen.setdefault(name, {})
                if key not in seen:
                    seen[key] = order
                    source_of[key] = category
                order += 1
    pool: dict[str, Tool] = {}
    for name in sorted(variants, key=lambda n: min(first_seen[n].values())):
        counts = variants[name]
        best = min(counts, key=lambda k: (-counts[k], first_seen[name][k]))
        pool[name] = Tool.from_definition(json.loads(best), source_of[best])
    stats = {
        "definitions": n_defs,
        "names": len(pool),
        "names_with_variants": sum(1 for c in variants.values() if len(c) > 1),
    }
    return pool, stats


def user_text(question: Any) -> str:
    """Text of the user messages of the first turn.

    BFCL stores ``question`` as a list of turns, each a list of ``{role, content}``
    messages (older releases: a flat list of messages).  System messages are dropped.
    """
    if not isinstance(question, list) or not question:
        return str(question or "")
    first = question[0]
    messages = first if isinstance(first, list) else question
    parts = [
        str(m.get("content") or "") for m in messages if isinstance(m, Mapping) and m.get("role", "user") == "user"
    ]
    return "\n".join(p for p in parts if p.strip())


def ground_truth_names(answer: Mapping[str, Any]) -> list[str]:
    """Function names called in a ``possible_answer`` record, in order, with repeats.

    ``ground_truth`` is a list of ``{function_name: {param: [allowed values]}}`` calls
    (a single dict in some older releases).
    """
    gt = answer.get("ground_truth")
    calls: Iterable[Any] = [gt] if isinstance(gt, Mapping) else (gt or [])
    names: list[str] = []
    for call in calls:
        if isinstance(call, Mapping):
            names.extend(str(k) for k in call)
        elif isinstance(call, str):  # "func(a=1)" call strings (multi-turn style)
            names.append(call.split("(", 1)[0].strip())
    return names


def _name_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


class NameResolver:
    """Map a ground-truth name onto a pool name.

    Exact match first.  Otherwise names are compared with case and every non-alphanumeric
    character removed (``math.factorial`` ~ ``math_factorial``; some BFCL releases and
    model-facing copies rewrite dots as underscores), preferring the question's own
    functions, then a unique match in the pool.  Returns ``None`` when unresolved.
    """

    def __init__(self, pool_names: Iterable[str]) -> None:
        self._names = set(pool_names)
        self._by_key: dict[str, list[str]] = {}
        for n in self._names:
            self._by_key.setdefault(_name_key(n), []).append(n)

    def resolve(self, name: str, local_names: Sequence[str] = ()) -> str | None:
        if name in self._names:
            return name
        key = _name_key(name)
        local = [n for n in local_names if _name_key(n) == key and n in self._names]
        if len(local) == 1:
            return local[0]
        candidates = self._by_key.get(key, [])
        return candidates[0] if len(candidates) == 1 else None


def is_heldout(category: str) -> bool:
    return category.startswith(HELDOUT_PREFIXES)


def iter_queries(
    category: str,
    question_file: Path,
    answer_file: Path,
    resolver: NameResolver,
    stats: Counter[str],
) -> Iterator[Query]:
    """Queries of one category; counts oddities into ``stats``."""
    answers = {str(a["id"]): a for a in read_jsonl(answer_file) or [] if "id" in a}
    for rec in read_jsonl(question_file) or []:
        qid = str(rec.get("id", ""))
        answer = answers.get(qid)
        if answer is None:
            stats["questions_without_answer"] += 1
            continue
        local = [str(f["name"]) for f in rec.get("function") or [] if isinstance(f, Mapping) and "name" in f]
        relevant: set[str] = set()
        for gt_name in ground_truth_names(answer):
            resolved = resolver.resolve(gt_name, local)
            if resolved is None:
                stats["unresolved_names"] += 1
                continue
            if resolved != gt_name:
                stats["renamed_names"] += 1
            relevant.add(resolved)
        text = user_text(rec.get("question"))
        if not relevant or not text:
            stats["dropped_queries"] += 1
            continue
        yield Query(qid=qid, category=category, text=text, relevant=frozenset(relevant))


def load_from_dir(
    data_dir: Path,
    categories: Sequence[str] = DEV_CATEGORIES,
    *,
    allow_heldout: bool = False,
) -> Benchmark:
    """Build the benchmark from an unpacked ``bfcl_eval/data`` directory."""
    bad = [c for c in categories if is_heldout(c)]
    if bad and not allow_heldout:
        raise ValueError(f"held-out categories {bad} need allow_heldout=True (never tune on them)")
    if any(c.startswith("multi_turn") for c in categories):
        raise ValueError("multi-turn categories are not supported (no function definitions in their files)")
    questions = category_files(data_dir)
    answers = category_files(data_dir / "possible_answer")
    missing = [c for c in categories if c not in questions or c not in answers]
    if missing:
        raise FileNotFoundError(f"no question/possible_answer file for {missing} in {data_dir}")
    tools, pool_stats = build_pool(questions)
    resolver = NameResolver(tools)
    counts: Counter[str] = Counter()
    queries: list[Query] = []
    for category in categories:
        queries.extend(iter_queries(category, questions[category], answers[category], resolver, counts))
    # Queries for which the kept definition of a relevant name has another description
    # than the definition shown with the question (realistic label noise, reported).
    counts["queries_with_other_description"] = _count_other_description(questions, queries, tools)
    stats = {**pool_stats, "queries": len(queries), **dict(counts)}
    return Benchmark(tools=tools, queries=queries, stats=stats)


def _count_other_description(questions: Mapping[str, Path], queries: Sequence[Query], tools: Mapping[str, Tool]) -> int:
    wanted = {(q.category, q.qid): q.relevant for q in queries}
    n = 0
    for category in sorted({q.category for q in queries}):
        for rec in read_jsonl(questions[category]) or []:
            relevant = wanted.get((category, str(rec.get("id", ""))), frozenset())
            own = {
                str(d["name"]): str(d.get("description") or "").strip()
                for d in rec.get("function") or []
                if isinstance(d, Mapping) and d.get("name") in relevant
            }
            if any(desc != tools[name].description.strip() for name, desc in own.items()):
                n += 1
    return n


def load_benchmark(
    categories: Sequence[str] = DEV_CATEGORIES,
    *,
    cache_dir: Path = DATA_DIR,
    version: str | None = BFCL_VERSION,
    allow_heldout: bool = False,
) -> Benchmark:
    """Download/unpack if needed, then build the benchmark for ``categories``."""
    return load_from_dir(ensure_data(cache_dir, version), categories, allow_heldout=allow_heldout)


# --------------------------------------------------------------------------- metrics


def recall_at_k(ranked: Sequence[str], relevant: frozenset[str], k: int) -> float:
    """Fraction of the relevant names found in the top ``k``."""
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], relevant: frozenset[str]) -> float:
    """1 / rank of the first relevant name (0 if none is ranked)."""
    for i, name in enumerate(ranked, start=1):
        if name in relevant:
            return 1.0 / i
    return 0.0


METRIC_KS: tuple[int, ...] = (1, 5, 10)


def per_query_metrics(
    rankings: Sequence[Sequence[str]], queries: Sequence[Query], ks: Sequence[int] = METRIC_KS
) -> dict[str, list[float]]:
    """R@k for each ``k`` and reciprocal rank, one value per query."""
    if len(rankings) != len(queries):
        raise ValueError("one ranking per query")
    out = {f"R@{k}": [recall_at_k(r, q.relevant, k) for r, q in zip(rankings, queries, strict=True)] for k in ks}
    out["MRR"] = [reciprocal_rank(r, q.relevant) for r, q in zip(rankings, queries, strict=True)]
    return out


def evaluate(
    rankings: Sequence[Sequence[str]], queries: Sequence[Query], ks: Sequence[int] = METRIC_KS
) -> dict[str, float]:
    """Mean R@k for each ``k`` and MRR over queries (every query weighs the same)."""
    per_query = per_query_metrics(rankings, queries, ks)
    return {m: (sum(v) / len(v) if v else 0.0) for m, v in per_query.items()}
