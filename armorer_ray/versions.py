"""Version ranges: which tool versions a caller written for ``^1`` or ``~1.2`` or ``>=1.0.0 <2`` accepts.

The syntax is npm's, since Armorer's users come from there: ``*`` (any), ``1.2.3`` / ``=1.2.3`` (exactly),
``1`` / ``1.x`` / ``1.2.x`` (partial versions), ``^1.2.3`` (same major; same minor below 1.0.0), ``~1.2.3`` (same
minor), and comparators ``> >= < <=`` joined by spaces or commas (all must hold). A prerelease version matches
only a range that names a prerelease of the same core version, so ``^1`` never selects ``2.0.0-beta``.

Example:
    >>> r = parse_range("^1.2")
    >>> [v for v in ["1.1.9", "1.2.0", "1.9.3", "2.0.0", "1.5.0-beta"] if r.contains(v)]
    ['1.2.0', '1.9.3']
    >>> is_range("1.2.3"), is_range("^1"), is_range("v2")
    (False, True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from armorer_ray.errors import ConfigError
from armorer_ray.identity import compare_versions

__all__ = ["VersionRange", "is_range", "is_semver", "parse_range"]

_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*(.+)$")
_FULL = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True, slots=True)
class _Bound:
    op: str  # one of > >= < <= =
    version: str

    def holds(self, version: str) -> bool:
        order = compare_versions(version, self.version)
        return {">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0, "=": order == 0}[self.op]


@dataclass(frozen=True, slots=True)
class VersionRange:
    """A parsed range: comparators that must all hold (see the module docstring for the syntax)."""

    text: str
    bounds: tuple[_Bound, ...]

    def contains(self, version: str | None) -> bool:
        """Whether ``version`` (semver, optionally ``v``-prefixed) satisfies the range; None never does.

        Example:
            >>> parse_range(">=1.0.0 <2").contains("1.4.2"), parse_range("~0.3").contains("0.4.0")
            (True, False)
        """
        if version is None or not _FULL.match(version):
            return version is not None and any(b.op == "=" and b.version == version for b in self.bounds)
        if "-" in version.split("+")[0]:
            core = version.split("+")[0].split("-")[0].lstrip("v")
            named = {b.version.split("-")[0].lstrip("v") for b in self.bounds if "-" in b.version}
            if core not in named:
                return False
        return all(bound.holds(version) for bound in self.bounds)


def is_semver(text: str | None) -> bool:
    """Whether ``text`` is one semver version (``v`` prefix, prerelease and build allowed)."""
    return text is not None and bool(_FULL.match(text))


def is_range(text: str) -> bool:
    """Whether ``text`` asks for a range rather than one exact version (``1.2.3`` and ``v2`` are exact)."""
    stripped = text.strip()
    if not stripped or _FULL.match(stripped):
        return False
    if stripped[0] in "^~<>=*" or " " in stripped or "," in stripped:
        return True
    return bool(re.match(r"^\d+(\.\d+)?(\.[xX*])?$|^\d+(\.[xX*])+$|^\d+\.\d+\.[xX*]$", stripped))


def _part(raw: str | None) -> int | None:
    return None if raw is None or raw in ("x", "X", "*") else int(raw)


def _expand(op: str, text: str) -> list[_Bound]:
    if text in ("*", "x", "X") and op in ("", "="):
        return []
    match = _PARTIAL.match(text)
    if match is None:
        raise ConfigError(f"invalid version range {text!r}: expected forms like 1.2.3, ^1, ~1.2, 1.x, >=1.0.0 <2")
    major, minor, patch = (_part(g) for g in match.groups()[:3])
    pre = match.group(4)
    if major is None:
        return []
    low = f"{major}.{minor or 0}.{patch or 0}" + (f"-{pre}" if pre else "")
    if op == "^":
        if major > 0 or minor is None:
            high = f"{major + 1}.0.0"
        elif minor > 0 or patch is None:
            high = f"0.{minor + 1}.0"
        else:
            high = f"0.0.{(patch or 0) + 1}"
        return [_Bound(">=", low), _Bound("<", high)]
    if op == "~":
        high = f"{major + 1}.0.0" if minor is None else f"{major}.{minor + 1}.0"
        return [_Bound(">=", low), _Bound("<", high)]
    if op in ("", "="):
        if patch is not None and minor is not None:
            return [_Bound("=", low)]
        high = f"{major + 1}.0.0" if minor is None else f"{major}.{minor + 1}.0"
        return [_Bound(">=", low), _Bound("<", high)]
    if op in (">", "<="):
        if minor is None or patch is None:  # >1 means >=2.0.0; <=1.2 means <1.3.0
            high = f"{major + 1}.0.0" if minor is None else f"{major}.{minor + 1}.0"
            return [_Bound(">=" if op == ">" else "<", high)]
        return [_Bound(op, low)]
    return [_Bound(op, low)]  # >= and < read a partial version as its lowest release


def parse_range(text: str) -> VersionRange:
    """Parse an npm-style range.

    Args:
        text: The range, such as ``^1``, ``~1.2.0``, ``1.x`` or ``>=1.0.0 <2.0.0``.

    Returns:
        The `VersionRange`.

    Raises:
        ConfigError: when a part is not a version or a comparator.

    Example:
        >>> parse_range("^0.2.3").contains("0.2.9"), parse_range("^0.2.3").contains("0.3.0")
        (True, False)
    """
    if not isinstance(text, str):
        raise ConfigError(f"a version range must be a string, got {type(text).__name__}")
    bounds: list[_Bound] = []
    tokens = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", text.replace(",", " ")).split()
    for token in tokens or ["*"]:
        match = _COMPARATOR.match(token)
        assert match is not None  # the pattern accepts any non-empty token
        op, rest = match.group(1) or "", match.group(2)
        bounds.extend(_expand(op, rest.strip()))
    return VersionRange(text, tuple(bounds))
