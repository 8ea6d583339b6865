"""Offline tests of the issue-19 dev sets (benchmarks/_sets.py) on a tiny synthetic BFCL tree."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(_BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(_BENCHMARKS))  # _sets imports _bfcl as a sibling module
    spec = importlib.util.spec_from_file_location(name, _BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sets = _load("_sets")


def _fn(name: str, description: str, **params: str) -> dict[str, Any]:
    return {"name": name, "description": description,
            "parameters": {"type": "dict", "required": list(params)[:1],
                           "properties": {p: {"type": "string", "description": d, "enum": ["a", "b"]}
                                          for p, d in params.items()}}}


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    weather = _fn("get_weather", "Weather for a city.", city="The city.")
    weather_again = _fn("get_weather", "Current conditions and forecast.", city="The city.")
    email = _fn("send_email", "Send an email.", to="Recipient.")
    for category in sets.LIVE_CATEGORIES:
        records = [{"id": f"{category}_{i}", "question": [[{"role": "user", "content": f"weather in town {i}"}]],
                    "function": [weather if i % 2 else weather_again, email]} for i in range(6)]
        _jsonl(tmp_path / f"BFCL_v4_{category}.json", records)
        _jsonl(tmp_path / "possible_answer" / f"BFCL_v4_{category}.json",
               [{"id": f"{category}_{i}", "ground_truth": [{"get_weather": {"city": ["x"]}}]} for i in range(6)])
    _jsonl(tmp_path / "multi_turn_func_doc" / "files.json",
           [_fn("mv", "Move a file.", source="From."), _fn("cat", "Print a file.", file_name="The file.")])
    for category in sets.MULTI_TURN_CATEGORIES:
        questions = [{"id": f"{category}_{i}", "question": [[{"role": "user", "content": "move a.txt to docs"}],
                                                            [{"role": "user", "content": "now show it to me"}],
                                                            [{"role": "user", "content": "thanks"}]]}
                     for i in range(4)]
        _jsonl(tmp_path / f"BFCL_v4_{category}.json", questions)
        _jsonl(tmp_path / "possible_answer" / f"BFCL_v4_{category}.json",
               [{"id": f"{category}_{i}", "ground_truth": [["mv(source='a.txt')"], ["cat(file_name='a.txt')"], []]}
                for i in range(4)])
    return tmp_path


def test_dev_and_heldout_halves_partition_every_set(data: Path) -> None:
    for name in sets.SET_NAMES:
        dev = {q.qid for q in sets.load_set(name, "dev", directory=data).queries}
        heldout = {q.qid for q in sets.load_set(name, "heldout", directory=data).queries}
        everything = {q.qid for q in sets.load_set(name, "all", directory=data).queries}
        assert dev.isdisjoint(heldout) and dev | heldout == everything and everything


def test_conversation_turns_carry_the_earlier_turns_and_stay_in_one_half(data: Path) -> None:
    queries = sets.load_set("conversation", "all", directory=data).queries
    follow_ups = [q for q in queries if q.qid.endswith(":1")]
    assert follow_ups and all(q.context == ("move a.txt to docs",) and q.relevant == {"cat"} for q in follow_ups)
    assert not any(q.qid.endswith(":2") for q in queries)  # a turn that calls nothing is not a query

    def conversations(split: str) -> set[str]:
        return {q.qid.split(":")[0].rsplit("_", 1)[-1] for q in sets.load_set("conversation", split,
                                                                              directory=data).queries}

    assert conversations("dev").isdisjoint(conversations("heldout"))  # base_3 and long_context_3 stay together


def test_long_documents_join_every_description_and_the_schema(data: Path) -> None:
    pool = sets.load_set("long", "all", directory=data).tools
    text = pool["get_weather"].description
    assert "Weather for a city." in text and "Current conditions and forecast." in text
    assert "required parameter city is a string: The city; one of a, b." in text


def test_an_unknown_set_is_refused(data: Path) -> None:
    with pytest.raises(ValueError, match="unknown set"):
        sets.load_set("plugins", directory=data)  # type: ignore[arg-type]


def test_the_real_sets_load_when_the_bfcl_wheel_is_cached() -> None:
    wheels = sorted((_BENCHMARKS / ".data" / "pip").glob("bfcl_eval-*.whl"))
    if not wheels:
        pytest.skip("bfcl-eval is not cached in benchmarks/.data (run benchmarks/retrieval_sets.py once online)")
    live = sets.load_set("live", "dev")
    assert len(live.tools) > 1000 and len(live.queries) > 500
