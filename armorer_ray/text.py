"""Text normalisation for matching tools: accents folded, identifiers split into words.

Example:
    >>> tokenize("sendEmail_v2 HTTPServer.getStatus")
    ['send', 'email', 'v', '2', 'http', 'server', 'get', 'status']
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

__all__ = ["normalize_text", "search_terms", "similarity", "split_subqueries", "stem", "tokenize"]

# Word boundaries inside identifiers, as zero-width matches so one pass splits them all (four sequential
# substitutions made tokenising the largest part of building a 100k-tool index).
_BOUNDARY = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])"           # camelCase, v2X
    r"|(?<=[A-Z])(?=[A-Z][a-z])"        # HTTPServer -> HTTP Server
    r"|(?<=[A-Za-z])(?=[0-9])"          # v2 -> v 2
    r"|(?<=[0-9])(?=[A-Za-z])"          # 2fa -> 2 fa
)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_MARKS = re.compile("[\u0300-\u036f]+")


def _strip_marks(text: str) -> str:
    if text.isascii():  # nothing to fold, and by far the common case
        return text
    return _MARKS.sub("", unicodedata.normalize("NFD", text))


def normalize_text(text: str) -> str:
    """Lower-case with accents removed.

    Example:
        >>> normalize_text("Café Élan")
        'cafe elan'
    """
    return _strip_marks(text).lower()


def tokenize(text: str) -> list[str]:
    """Split into lowercase words at case changes, letter/digit changes and any non-alphanumeric character."""
    spaced = _BOUNDARY.sub(" ", _strip_marks(text))
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


@functools.cache
def english_stopwords() -> frozenset[str]:
    """The English stopword list the lexical ranker drops (bm25s's), loaded on first use.

    Loaded lazily because importing bm25s pulls in scipy (about 0.15 s), which `import armorer_ray` must not pay.

    Example:
        >>> "the" in english_stopwords(), "weather" in english_stopwords()
        (True, False)
    """
    try:
        from bm25s.stopwords import STOPWORDS_EN
    except ImportError:  # pragma: no cover - bm25s is a core dependency
        return frozenset({"a", "an", "and", "the", "of", "to", "in", "for", "on", "is", "it", "with", "by"})
    return frozenset(STOPWORDS_EN)


@functools.cache
def _stemmer() -> Callable[[str], str] | None:
    """Snowball stemming (PyStemmer, a core dependency), built on first use; None falls back to plural-stripping."""
    try:
        import Stemmer
    except ImportError:  # pragma: no cover - exercised only without PyStemmer
        return None
    stem_word: Callable[[str], str] = Stemmer.Stemmer("english").stemWord
    return stem_word


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball English stem of a lowercase word.

    Example:
        >>> stem("refunding"), stem("customers")
        ('refund', 'custom')
    """
    stem_word = _stemmer()
    if stem_word is not None:
        return str(stem_word(word))
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def search_terms(text: str) -> list[str]:
    """BM25 terms: identifiers split, lowercased, single characters and English stopwords dropped, stemmed.

    Measured on the BFCL tool pool (docs/retrieval-research.md): splitting, stopwords and stemming together add
    about 0.03 recall@5 over plain word tokens.

    Example:
        >>> search_terms("getWeatherForecasts for the next days")
        ['get', 'weather', 'forecast', 'next', 'day']
    """
    stopwords = english_stopwords()
    return [stem(token) for token in tokenize(text) if len(token) > 1 and token not in stopwords]


_SUBQUERY_SPLIT = re.compile(
    r"(?<=[.!?;])\s+|,?\s+(?:and then|and also|then|also|additionally|after that|finally|next)\s+|\n+",
    re.IGNORECASE,
)


def split_subqueries(text: str, min_words: int = 3) -> list[str]:
    """The parts of a request that asks for several things (sentences, "then" / "also" clauses).

    Returns an empty list unless at least two parts of ``min_words`` words remain.

    Example:
        >>> split_subqueries("Find the invoice for order 7, then email it to the customer.")
        ['Find the invoice for order 7', 'email it to the customer.']
    """
    parts = [p.strip(" ,\"'") for p in _SUBQUERY_SPLIT.split(text) if p and p.strip()]
    parts = [p for p in parts if len(p.split()) >= min_words]
    return parts if len(parts) >= 2 else []
