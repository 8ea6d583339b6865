"""Compression: packed results stay JSON and pickle safe, unpack transparently, and skip what would not shrink."""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

from armorer_ray import ConfigError, MissingExtraError, Toolbox, ToolCall, ToolResult
from armorer_ray.middleware import Cache, Compression, decompress_content
from armorer_ray.testing import mock_tool

BIG = {"rows": [{"id": n, "text": "lorem ipsum dolor sit amet"} for n in range(200)]}


@pytest.mark.parametrize("codec", ["gzip", "br", "zstd"])
async def test_large_results_are_packed_and_value_unpacks_them(codec: Any) -> None:
    pytest.importorskip({"gzip": "gzip", "br": "brotli", "zstd": "zstandard"}[codec])
    box = Toolbox([mock_tool("report", impl=lambda: BIG)], middleware=[Compression(codec, min_bytes=1024)])
    result = await box.execute(ToolCall(name="report"))
    assert result.compression == codec and result.result is None and isinstance(result.content, str)
    assert len(result.content) < len(str(BIG)) / 4
    assert result.value() == BIG
    assert ToolResult.model_validate_json(result.model_dump_json()).value() == BIG
    assert pickle.loads(pickle.dumps(result)).value() == BIG


async def test_small_failed_and_incompressible_results_are_left_alone() -> None:
    layer = Compression(min_bytes=100)
    box = Toolbox([mock_tool("small", impl=lambda: "tiny"), mock_tool("down", outcomes=[RuntimeError("x" * 500)])],
                  middleware=[layer])
    for name in ("small", "down"):
        assert (await box.execute(ToolCall(name=name))).compression is None
    short = ToolResult(call_id="c", tool_name="t", outcome="success", result="abc", content="abc")
    assert Compression(min_bytes=0).pack(short) is short, "gzip's header alone is longer than the text"


async def test_a_cache_outside_keeps_the_packed_form() -> None:
    report = mock_tool("report", impl=lambda: BIG, read_only=True)
    box = Toolbox([report], middleware=[Cache(), Compression(min_bytes=1024)])
    first = await box.execute(ToolCall(name="report"))
    second = await box.execute(ToolCall(name="report"))
    assert second.compression == "gzip" and second.value() == BIG and len(report.calls) == 1
    assert first.content == second.content


def test_unpacking_an_unpacked_result_gives_its_content() -> None:
    plain = ToolResult(call_id="c", tool_name="t", outcome="success", result=1, content=1)
    assert decompress_content(plain) == 1


def test_unknown_codecs_and_missing_packages_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown compression codec 'lz4'"):
        Compression("lz4")  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "brotli", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'armorer-ray\[compression\]'"):
        Compression("br")
    with pytest.raises(ConfigError):
        Compression(min_bytes=-1)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_json_content_roundtrips(content: JsonValue) -> None:
    result = ToolResult(call_id="c", tool_name="t", outcome="success", result=content, content=content)
    packed = Compression(min_bytes=0).pack(result)
    restored = ToolResult.model_validate_json(packed.model_dump_json())
    assert restored.value() == content


async def test_content_holding_objects_json_cannot_hold_is_packed_as_shaping_renders_them() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    odd = mock_tool("odd", impl=lambda: {"items": [Opaque()] * 400})
    result = await Toolbox([odd], middleware=[Compression(min_bytes=100)]).execute(ToolCall(name="odd"))
    assert result.ok and result.value() == {"items": ["opaque"] * 400}
