"""Text normalisation for matching tools: accents folded, identifiers split into words.

Example:
    >>> tokenize("sendEmail_v2 HTTPServer.getStatus")
    ['send', 'email', 'v', '2', 'http', 'server', 'get', 'status']
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text", "similarity", "tokenize"]

_BOUNDARIES = [
    re.compile(r"([a-z0-9])([A-Z])"),        # camelCase, v2X
    re.compile(r"([A-Z]+)([A-Z][a-z])"),     # HTTPServer -> HTTP Server
    re.compile(r"([A-Za-z])([0-9])"),        # v2 -> v 2
    re.compile(r"([0-9])([A-Za-z])"),        # 2fa -> 2 fa
]
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _strip_marks(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not ("\u0300" <= ch <= "\u036f"))


def normalize_text(text: str) -> str:
    """Lower-case with accents removed.

    Example:
        >>> normalize_text("Café Élan")
        'cafe elan'
    """
    return _strip_marks(text).lower()


def tokenize(text: str) -> list[str]:
    """Split into lowercase words at case changes, letter/digit changes and any non-alphanumeric character."""
    spaced = _strip_marks(text)
    for pattern in _BOUNDARIES:
        spaced = pattern.sub(r"\1 \2", spaced)
    return [token for token in _NON_WORD.split(spaced.lower()) if token]


def similarity(a: str, b: str) -> float:
    """``1 - levenshtein(a, b) / max(len)``: 1.0 for equal strings, 0.0 for nothing in common.

    Example:
        >>> round(similarity("comunication", "communication"), 3)
        0.923
    """
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))
