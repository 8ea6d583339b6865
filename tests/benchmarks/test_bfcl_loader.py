"""Offline tests of the BFCL tool-retrieval loader on a tiny synthetic fixture."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_BFCL_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "_bfcl.py"


def _load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bfcl_under_test", _BFCL_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


bfcl = _load_module()


def _fn(name: str, description: str, **params: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": {
            "type": "dict",
            "properties": {p: {"type": "string", "description": d} for p, d in params.items()},
            "required": list(params),
        },
    }


def _user(text: str) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": text}]]


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


FACTORIAL = _fn("math.factorial", "Calculate the factorial of a number.", number="The number.")
FACTORIAL_OTHER = _fn("math.factorial", "Factorial, rarely seen variant.", n="The number.")
HYPOT = _fn("math.hypot", "Euclidean norm.", x="x", y="y")
JAVA = _fn("GeometryPresentation.createPresentation", "Initialise the GIS presentation.", controller="c")
JS = _fn("validateUserInput", "Validate a form field.", inputField="The field.")
WEATHER = _fn("get_weather", "Weather for a city.", city="The city.")
TIME = _fn("timezone.convert", "Convert a time between zones.", time="t")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A miniature ``bfcl_eval/data`` tree exercising every parsing path."""
    root = tmp_path / "bfcl_eval" / "data"
    q: dict[str, list[dict[str, Any]]] = {
        "simple_python": [
            {"id": "simple_python_0", "question": _user("Factorial of 5?"), "function": [FACTORIAL]},
            {"id": "simple_python_1", "question": _user("Hypotenuse of 3 and 4"), "function": [HYPOT]},
            # answer names the function with underscores instead of dots
            {"id": "simple_python_2", "question": _user("5! please"), "function": [FACTORIAL]},
            # no answer for this one: skipped
            {"id": "simple_python_3", "question": _user("orphan"), "function": [HYPOT]},
        ],
        "simple_java": [
            {"id": "simple_java_0", "question": _user("Help me initialise `mapController`"), "function": [JAVA]},
        ],
        "simple_javascript": [
            {"id": "simple_javascript_0", "question": _user("validate 'userInputField'"), "function": [JS]},
        ],
        "multiple": [
            {
                "id": "multiple_0",
                # system prompts are not part of the query text
                "question": [[{"role": "system", "content": "be nice"}, {"role": "user", "content": "Weather?"}]],
                "function": [WEATHER, FACTORIAL_OTHER],
            },
        ],
        "parallel": [
            {"id": "parallel_0", "question": _user("Weather in Paris and Rome"), "function": [WEATHER]},
        ],
        "parallel_multiple": [
            {
                "id": "parallel_multiple_0",
                "question": _user("Weather in Tokyo, then convert 2pm NY to Tokyo time, and 7!"),
                "function": [WEATHER, TIME, FACTORIAL],
            },
        ],
        # irrelevance-style file: contributes to the pool only
        "irrelevance": [{"id": "irrelevance_0", "question": _user("Tell a joke"), "function": [FACTORIAL_OTHER]}],
        "live_simple": [{"id": "live_simple_0", "question": _user("live question"), "function": [WEATHER]}],
    }
    a: dict[str, list[dict[str, Any]]] = {
        "simple_python": [
            {"id": "simple_python_0", "ground_truth": [{"math.factorial": {"number": [5]}}]},
            {"id": "simple_python_1", "ground_truth": [{"math.hypot": {"x": [3], "y": [4]}}]},
            {"id": "simple_python_2", "ground_truth": [{"math_factorial": {"number": [5]}}]},
        ],
        "simple_java": [
            {
                "id": "simple_java_0",
                "ground_truth": [{"GeometryPresentation.createPresentation": {"controller": ["m"]}}],
            }
        ],
        # older releases: a single dict instead of a list of calls
        "simple_javascript": [
            {"id": "simple_javascript_0", "ground_truth": {"validateUserInput": {"inputField": ["u"]}}}
        ],
        "multiple": [{"id": "multiple_0", "ground_truth": [{"get_weather": {"city": ["x"]}}]}],
        "parallel": [
            {
                "id": "parallel_0",
                "ground_truth": [{"get_weather": {"city": ["Paris"]}}, {"get_weather": {"city": ["Rome"]}}],
            }
        ],
        "parallel_multiple": [
            {
                "id": "parallel_multiple_0",
                "ground_truth": [
                    {"get_weather": {"city": ["Tokyo"]}},
                    {"timezone.convert": {"time": ["2pm"]}},
                    {"math.factorial": {"number": [7]}},
                    {"nonexistent_tool": {}},
                ],
            }
        ],
        "live_simple": [{"id": "live_simple_0", "ground_truth": [{"get_weather": {"city": ["x"]}}]}],
    }
    for category, records in q.items():
        _write_jsonl(root / f"BFCL_v4_{category}.json", records)
    for category, records in a.items():
        _write_jsonl(root / "possible_answer" / f"BFCL_v4_{category}.json", records)
    # a non-JSONL document like BFCL_v4_format_sensitivity.json must be ignored
    (root / "BFCL_v4_format_sensitivity.json").write_text('{\n  "simple_python": ["simple_python_0"]\n}\n')
    (root / "README.md").write_text("not data")
    return root


def test_pool_has_one_tool_per_name_with_most_frequent_definition(data_dir: Path) -> None:
    bench = bfcl.load_from_dir(data_dir)
    names = bench.tool_names
    assert len(names) == len(set(names))
    assert set(names) == {
        "math.factorial",
        "math.hypot",
        "GeometryPresentation.createPresentation",
        "validateUserInput",
        "get_weather",
        "timezone.convert",
    }
    # FACTORIAL appears 3 times, FACTORIAL_OTHER twice: the frequent one wins
    assert bench.tools["math.factorial"].description == FACTORIAL["description"]
    assert bench.tools["math.factorial"].parameter_items() == [("number", "The number.")]
    assert bench.stats["names_with_variants"] == 1
    assert bench.stats["definitions"] == 14


def test_tie_between_definitions_goes_to_first_in_file_order(tmp_path: Path) -> None:
    a = _fn("f", "from file a")
    b = _fn("f", "from file b")
    _write_jsonl(tmp_path / "BFCL_v4_b.json", [{"id": "b_0", "question": _user("x"), "function": [b]}])
    _write_jsonl(tmp_path / "BFCL_v4_a.json", [{"id": "a_0", "question": _user("x"), "function": [a]}])
    pool, _ = bfcl.build_pool(bfcl.category_files(tmp_path))
    assert pool["f"].description == "from file a"
    assert pool["f"].source == "a"


def test_queries_text_and_relevance(data_dir: Path) -> None:
    bench = bfcl.load_from_dir(data_dir)
    by_id = {q.qid: q for q in bench.queries}
    assert "simple_python_3" not in by_id  # no possible answer
    assert bench.stats["questions_without_answer"] == 1
    assert by_id["simple_python_0"].text == "Factorial of 5?"
    assert by_id["simple_python_0"].relevant == frozenset({"math.factorial"})
    assert by_id["simple_java_0"].relevant == frozenset({"GeometryPresentation.createPresentation"})
    assert by_id["simple_javascript_0"].relevant == frozenset({"validateUserInput"})
    assert by_id["multiple_0"].text == "Weather?"
    # parallel: the same function called twice is one relevant name
    assert by_id["parallel_0"].relevant == frozenset({"get_weather"})
    # parallel_multiple: several names; the unknown one is dropped and counted
    assert by_id["parallel_multiple_0"].relevant == frozenset({"get_weather", "timezone.convert", "math.factorial"})
    assert bench.stats["unresolved_names"] == 1
    assert {q.category for q in bench.queries} == set(bfcl.DEV_CATEGORIES)


def test_dotted_name_written_with_underscores_is_resolved(data_dir: Path) -> None:
    bench = bfcl.load_from_dir(data_dir)
    by_id = {q.qid: q for q in bench.queries}
    assert by_id["simple_python_2"].relevant == frozenset({"math.factorial"})
    assert bench.stats["renamed_names"] == 1


def test_name_resolver_refuses_ambiguous_matches() -> None:
    resolver = bfcl.NameResolver(["a.b", "a_b", "c.d"])
    assert resolver.resolve("a.b") == "a.b"
    assert resolver.resolve("c_d") == "c.d"
    assert resolver.resolve("A.B_") is None  # two pool names share the key
    assert resolver.resolve("A.B_", local_names=["a_b"]) == "a_b"
    assert resolver.resolve("zzz") is None


def test_heldout_categories_are_refused_by_default(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="held-out"):
        bfcl.load_from_dir(data_dir, ["simple_python", "live_simple"])
    bench = bfcl.load_from_dir(data_dir, ["live_simple"], allow_heldout=True)
    assert [q.qid for q in bench.queries] == ["live_simple_0"]


def test_user_text_variants() -> None:
    assert bfcl.user_text([{"role": "user", "content": "flat"}]) == "flat"
    assert bfcl.user_text([[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]]) == "a\nb"
    assert bfcl.user_text([[{"role": "user", "content": "t1"}], [{"role": "user", "content": "t2"}]]) == "t1"
    assert bfcl.user_text("plain") == "plain"


def test_ground_truth_names_formats() -> None:
    assert bfcl.ground_truth_names({"ground_truth": [{"f": {}}, {"g": {}}, {"f": {}}]}) == ["f", "g", "f"]
    assert bfcl.ground_truth_names({"ground_truth": {"f": {}}}) == ["f"]
    assert bfcl.ground_truth_names({"ground_truth": ["cd(folder='x')", "ls()"]}) == ["cd", "ls"]


def test_unpack_and_ensure_wheel_use_the_cache(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    wheel = cache / "pip" / f"bfcl_eval-{bfcl.BFCL_VERSION}-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for path in data_dir.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(data_dir.parents[1]).as_posix())
        zf.writestr("bfcl_eval/__init__.py", "")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run when the wheel is cached")

    monkeypatch.setattr(bfcl.subprocess, "run", no_network)
    unpacked = bfcl.ensure_data(cache)
    assert (unpacked / "BFCL_v4_simple_python.json").is_file()
    assert not (unpacked.parent / "__init__.py").exists()  # only data/ is extracted
    bench = bfcl.load_benchmark(cache_dir=cache)
    assert len(bench.queries) == 8


def test_ensure_wheel_downloads_with_pip_when_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], check: bool) -> None:
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / "bfcl_eval-1.0-py3-none-any.whl").write_bytes(b"")

    monkeypatch.setattr(bfcl.subprocess, "run", fake_run)
    wheel = bfcl.ensure_wheel(tmp_path, version="1.0")
    assert wheel.name == "bfcl_eval-1.0-py3-none-any.whl"
    assert calls and calls[0][1:4] == ["-m", "pip", "download"]
    assert "bfcl-eval==1.0" in calls[0] and "--no-deps" in calls[0]


def test_metrics() -> None:
    q = bfcl.Query("q", "parallel_multiple", "t", frozenset({"a", "b"}))
    ranked = ["x", "a", "y", "z", "w", "v", "b"]
    assert bfcl.recall_at_k(ranked, q.relevant, 1) == 0.0
    assert bfcl.recall_at_k(ranked, q.relevant, 5) == 0.5
    assert bfcl.recall_at_k(ranked, q.relevant, 10) == 1.0
    assert bfcl.reciprocal_rank(ranked, q.relevant) == 0.5
    assert bfcl.reciprocal_rank(["x"], q.relevant) == 0.0
    q2 = bfcl.Query("q2", "simple_python", "t", frozenset({"x"}))
    result = bfcl.evaluate([ranked, ranked], [q, q2])
    assert result == pytest.approx({"R@1": 0.5, "R@5": 0.75, "R@10": 1.0, "MRR": 0.75})
    with pytest.raises(ValueError):
        bfcl.evaluate([ranked], [q, q2])
