"""The one-pass tokenizer splits exactly as the four sequential substitutions it replaced."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray.text import tokenize

_REFERENCE = [re.compile(r"([a-z0-9])([A-Z])"), re.compile(r"([A-Z]+)([A-Z][a-z])"),
              re.compile(r"([A-Za-z])([0-9])"), re.compile(r"([0-9])([A-Za-z])")]


def reference_tokenize(text: str) -> list[str]:
    spaced = "".join(ch for ch in unicodedata.normalize("NFD", text) if not ("\u0300" <= ch <= "\u036f"))
    for pattern in _REFERENCE:
        spaced = pattern.sub(r"\1 \2", spaced)
    return [token for token in re.split(r"[^a-z0-9]+", spaced.lower()) if token]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZbY09_.- éÉçHTTPServerv2X2fa"), max_size=40) | st.text(max_size=30))
def test_tokenize_matches_the_sequential_reference(text: str) -> None:
    assert tokenize(text) == reference_tokenize(text)


def test_known_identifiers() -> None:
    assert tokenize("sendEmail_v2 HTTPServer.getStatus Café") == [
        "send", "email", "v", "2", "http", "server", "get", "status", "cafe"]
