"""Dev sets of the three kinds issue 19 names, each with a held-out half that is never tuned on.

All three are derived from the data inside the ``bfcl-eval`` wheel (Apache-2.0; see ``_bfcl``), fetched once with
``pip download`` into ``benchmarks/.data`` and read offline afterwards.  Nothing is downloaded at run time by the
library; when the wheel is neither cached nor downloadable, :func:`load_set` raises :class:`SetUnavailable` with
the reason, and the tests skip on it.

* ``live``: real user requests to live APIs (BFCL ``live_simple``, ``live_multiple``, ``live_parallel``,
  ``live_parallel_multiple``; crowd-sourced requests against enterprise and hobby APIs, unlike the dev categories the
  original design was tuned on).  Pool: the whole BFCL pool, one definition per name (1,853 tools).
* ``conversation``: each user turn of the BFCL multi-turn conversations (``multi_turn_base``,
  ``multi_turn_long_context``, ``multi_turn_miss_param``), with the earlier user turns of its conversation as
  context.  Follow-ups such as "move the other report there as well" only make sense with that context.
  Relevant: the function names the turn's ground truth calls.  Pool: the 161 multi-turn API functions plus the
  BFCL pool as distractors.
* ``long``: the ``live`` requests against a pool of long, redundant documents: each tool's description is the
  concatenation of every distinct description BFCL gives that name, followed by a prose rendering of its whole
  parameter schema (types, enums, defaults, nested fields).  No public tool set with long marketing-style
  descriptions ships on the package index that we found, so this set reproduces the two properties that hurt
  there (documents 5-20x longer than the request, and many weakly relevant words) from real definitions; it is
  labelled derived wherever it is reported.

Split: a query belongs to the held-out half when the first byte of ``sha256(conversation or query id)`` is odd.
Conversations are never split across halves.  ``load_set(..., split="heldout")`` must be asked for explicitly.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import _bfcl

SetName = Literal["live", "conversation", "long"]
Split = Literal["dev", "heldout", "all"]
SET_NAMES: tuple[SetName, ...] = ("live", "conversation", "long")
LIVE_CATEGORIES = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_long_context", "multi_turn_miss_param")


class SetUnavailable(RuntimeError):
    """The bfcl-eval data is neither cached in benchmarks/.data nor downloadable here."""


@dataclass(frozen=True)
class SetQuery:
    """A request, the earlier user turns of its conversation (oldest first), and the tool names it needs."""

    qid: str
    group: str
    text: str
    relevant: frozenset[str]
    context: tuple[str, ...] = ()


@dataclass
class DevSet:
    """A pool of tools and the queries of one split."""

    name: SetName
    tools: dict[str, _bfcl.Tool]
    queries: list[SetQuery]

    @property
    def tool_names(self) -> list[str]:
        return list(self.tools)


def is_heldout(key: str) -> bool:
    """Whether the conversation or query ``key`` is in the held-out half (a fixed hash, never tuned)."""
    return hashlib.sha256(key.encode()).digest()[0] % 2 == 1


def _in_split(key: str, split: Split) -> bool:
    return split == "all" or (split == "heldout") == is_heldout(key)


def data_dir(cache_dir: Path = _bfcl.DATA_DIR) -> Path:
    """The unpacked BFCL data directory, fetching the wheel with pip if it is not cached.

    Raises:
        SetUnavailable: when the wheel is not cached and pip cannot fetch it (offline CI, say).
    """
    try:
        return _bfcl.ensure_data(cache_dir)
    except (subprocess.CalledProcessError, FileNotFoundError, OSError) as exc:
        raise SetUnavailable(f"bfcl-eval {_bfcl.BFCL_VERSION} is not cached in {cache_dir} and could not be "
                             f"fetched with pip ({exc})") from exc


def load_set(name: SetName, split: Split = "dev", *, directory: Path | None = None) -> DevSet:
    """Build one set (``live``, ``conversation`` or ``long``) for one split from the BFCL data."""
    root = directory if directory is not None else data_dir()
    if name == "live":
        return DevSet(name, _pool(root), _live_queries(root, split))
    if name == "long":
        return DevSet(name, long_pool(root), _live_queries(root, split))
    if name == "conversation":
        pool = {**_pool(root), **multi_turn_pool(root)}  # a multi-turn definition wins a name clash
        return DevSet(name, pool, conversation_queries(root, split, pool))
    raise ValueError(f"unknown set {name!r}; expected one of {SET_NAMES}")


def _pool(root: Path) -> dict[str, _bfcl.Tool]:
    tools, _ = _bfcl.build_pool(_bfcl.category_files(root))
    return tools


def _live_queries(root: Path, split: Split) -> list[SetQuery]:
    bench = _bfcl.load_from_dir(root, LIVE_CATEGORIES, allow_heldout=True)
    return [SetQuery(q.qid, q.category, q.text, q.relevant) for q in bench.queries if _in_split(q.qid, split)]


def multi_turn_pool(root: Path) -> dict[str, _bfcl.Tool]:
    """The functions of the multi-turn APIs (file system, trading, travel, vehicle, ...), first definition wins."""
    pool: dict[str, _bfcl.Tool] = {}
    for path in sorted((root / "multi_turn_func_doc").glob("*.json")):
        for record in _bfcl.read_jsonl(path) or []:
            if "name" in record and str(record["name"]) not in pool:
                pool[str(record["name"])] = _bfcl.Tool.from_definition(record, f"multi_turn:{path.stem}")
    return pool


def conversation_queries(root: Path, split: Split, pool: Mapping[str, _bfcl.Tool]) -> list[SetQuery]:
    """One query per user turn whose ground truth calls a pooled function; earlier user turns are its context."""
    questions = _bfcl.category_files(root)
    answers = _bfcl.category_files(root / "possible_answer")
    out: list[SetQuery] = []
    for category in MULTI_TURN_CATEGORIES:
        truth = {str(a["id"]): a.get("ground_truth") or [] for a in _bfcl.read_jsonl(answers[category]) or []}
        for record in _bfcl.read_jsonl(questions[category]) or []:
            conversation = str(record.get("id", ""))
            if not _in_split(conversation.split("_")[-1], split):  # the same conversation in every category
                continue
            history: list[str] = []
            for turn, (messages, calls) in enumerate(zip(record.get("question") or [], truth.get(conversation, []),
                                                         strict=False)):
                text = "\n".join(str(m.get("content") or "") for m in messages
                                 if isinstance(m, Mapping) and m.get("role") == "user").strip()
                relevant = frozenset(name for name in _called(calls) if name in pool)
                if text and relevant:
                    out.append(SetQuery(f"{conversation}:{turn}", category, text, relevant, tuple(history)))
                if text:
                    history.append(text)
    return out


def _called(calls: Iterable[Any]) -> list[str]:
    return [str(call).split("(", 1)[0].strip() for call in calls if isinstance(call, str)]


def long_pool(root: Path) -> dict[str, _bfcl.Tool]:
    """The BFCL pool with long documents: every distinct description of a name, then its schema in prose."""
    base = _pool(root)
    descriptions: dict[str, list[str]] = {name: [] for name in base}
    for path in sorted(_bfcl.category_files(root).values(), key=lambda p: p.name):
        for record in _bfcl.read_jsonl(path) or []:
            for definition in record.get("function") or []:
                name = str(definition.get("name", "")) if isinstance(definition, Mapping) else ""
                text = str(definition.get("description") or "").strip() if name in descriptions else ""
                if text and text not in descriptions[name]:
                    descriptions[name].append(text)
    out = {}
    for name, tool in base.items():
        prose = " ".join([*descriptions[name], *_schema_prose(tool.parameters)])
        out[name] = _bfcl.Tool(name=name, description=prose, parameters=tool.parameters, source=tool.source)
    return out


def _schema_prose(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping):
        return []
    required = set(schema.get("required") or [])
    sentences = []
    for field, spec in properties.items():
        if not isinstance(spec, Mapping):
            continue
        label = f"{prefix}{field}"
        sentence = f"The {'required' if field in required else 'optional'} parameter {label} is a " \
                   f"{spec.get('type', 'value')}"
        if spec.get("description"):
            sentence += f": {str(spec['description']).rstrip('.')}"
        if spec.get("enum"):
            sentence += "; one of " + ", ".join(str(v) for v in spec["enum"])
        if "default" in spec:
            sentence += f"; it defaults to {json.dumps(spec['default'])}"
        sentences.append(sentence + ".")
        sentences += _schema_prose(spec, f"{label}.")
        items = spec.get("items")
        if isinstance(items, Mapping):
            sentences += _schema_prose(items, f"{label}[].")
    return sentences


def describe(sets: Sequence[DevSet]) -> list[tuple[object, ...]]:
    """Rows (set, tools, queries, median tool text chars, median request chars, queries with context)."""
    import statistics

    rows = []
    for s in sets:
        lengths = [len(t.description) + sum(len(d) for _, d in t.parameter_items()) for t in s.tools.values()]
        rows.append((s.name, len(s.tools), len(s.queries), int(statistics.median(lengths)),
                     int(statistics.median(len(q.text) for q in s.queries)) if s.queries else 0,
                     sum(1 for q in s.queries if q.context)))
    return rows
