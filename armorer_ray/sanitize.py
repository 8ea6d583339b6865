"""Input sanitization policies: refuse arguments a body should never see, before it runs.

- `ConfinePaths` denies a call whose path arguments resolve outside a root directory, following ``..`` and
  symbolic links the way the operating system will when the body opens the path;
- `ArgumentLimits` denies a call whose arguments, as sent, are too large or too deeply nested;
- `ArgumentBounds` caps what a call may cost *before* anything parses or validates it: every toolbox checks
  the raw arguments against one (`DEFAULT_BOUNDS` unless its policies include another), without recursion.

The first two are policies (``before_execute``), so a refused call ends as a ``permission`` error coded
``POLICY_DENIED`` with the reason, never reaches middleware, and costs no rate-limit token. A call over its
toolbox's `ArgumentBounds` ends as a ``validation`` error coded ``ARGUMENTS_TOO_LARGE`` as soon as it is resolved.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.policy import Decision, PolicyContext

__all__ = ["DEFAULT_BOUNDS", "ArgumentBounds", "ArgumentLimits", "ConfinePaths", "bounds_of", "json_depth"]


@dataclass(frozen=True)
class ConfinePaths:
    """Deny calls whose path arguments resolve outside ``root``.

    A path is resolved as `os.path.realpath` does: relative to the current directory (where the body's ``open``
    will look), ``..`` applied, and every existing symbolic link followed, so ``root/link-to-etc/passwd`` and
    ``root/../etc/passwd`` are both outside. A path that does not exist yet is judged by where it would be. The
    check runs when the call is admitted; a link created or changed after that (by the body or anyone else) is
    not seen, so do not let untrusted code create links under the root.

    Args:
        root: The directory paths must stay in (resolved once, here; it must exist).
        params: Names of the arguments that hold paths (a string, `os.PathLike`, or a list of them); None checks
            every argument whose validated value is an `os.PathLike` (parameters annotated ``Path``), and lists
            of them.

    Raises:
        ConfigError: when ``root`` is not an existing directory.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from armorer_ray import Toolbox, ToolCall, tool
        >>> @tool
        ... def read_text(path: Path) -> str:
        ...     "Read a text file."
        ...     return path.read_text()
        >>> workspace = Path(tempfile.mkdtemp())
        >>> _ = (workspace / "notes.txt").write_text("hello")
        >>> box = Toolbox([read_text], policy=ConfinePaths(workspace))
        >>> box.execute_sync(ToolCall(name="read_text", arguments={"path": str(workspace / "notes.txt")})).result
        'hello'
        >>> denied = box.execute_sync(ToolCall(name="read_text", arguments={"path": f"{workspace}/../../etc/passwd"}))
        >>> denied.error.code, denied.error.message.startswith('Argument "path" resolves outside the allowed root')
        ('POLICY_DENIED', True)
        >>> import shutil; shutil.rmtree(workspace)
    """

    root: str | os.PathLike[str]
    params: Collection[str] | None = None
    _resolved: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        resolved = os.path.realpath(self.root)
        if not os.path.isdir(resolved):
            raise ConfigError(f"ConfinePaths root must be an existing directory, got {os.fspath(self.root)!r}")
        object.__setattr__(self, "_resolved", resolved)

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` resolves to the root or somewhere under it.

        Example:
            >>> ConfinePaths("/").contains("/etc/../tmp")
            True
        """
        try:
            resolved = os.path.realpath(path)
        except (ValueError, OSError):  # a NUL byte, a path too long: the body could not open it either
            return False
        return resolved == self._resolved or resolved.startswith(self._resolved.rstrip(os.sep) + os.sep)

    def before_execute(self, ctx: PolicyContext) -> Decision | None:
        """Deny the call at the first path argument outside the root."""
        for name, value in self._candidates(ctx.params):
            if not isinstance(value, str | os.PathLike):
                return Decision.deny(f'Argument "{name}" must be a path, got {type(value).__name__}')
            if not self.contains(value):
                return Decision.deny(f'Argument "{name}" resolves outside the allowed root: {os.fspath(value)!r}')
        return None

    def _candidates(self, params: Any) -> Iterator[tuple[str, object]]:
        for name, value in params.items():
            if self.params is not None and name not in self.params:
                continue
            items = value if isinstance(value, list | tuple | set | frozenset) else [value]
            for item in items:
                if self.params is not None:
                    if item is not None:
                        yield name, item
                elif isinstance(item, os.PathLike):
                    yield name, item


@dataclass(frozen=True)
class ArgumentLimits:
    """Deny calls whose arguments, as the model sent them, are too large or too deeply nested.

    Size is the length in bytes of the arguments as compact UTF-8 JSON; depth counts nested objects and arrays
    (``{"a": 1}`` has depth 1, ``{"a": [1]}`` depth 2). Depth is measured without recursion, so a hostile
    thousand-level value is refused rather than crashing the check.

    Args:
        max_bytes: Largest size allowed (None: any).
        max_depth: Deepest nesting allowed (None: any).

    Raises:
        ConfigError: for a limit that is not a positive integer.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, tool
        >>> @tool
        ... def store(doc: dict) -> int:
        ...     "Store a document."
        ...     return len(doc)
        >>> box = Toolbox([store], policy=ArgumentLimits(max_bytes=1000, max_depth=3))
        >>> box.execute_sync(ToolCall(name="store", arguments={"doc": {"a": [1, 2]}})).result
        1
        >>> box.execute_sync(ToolCall(name="store", arguments={"doc": {"a": [[1]]}})).error.message
        'Arguments are nested more than 3 levels deep, the most allowed'
    """

    max_bytes: int | None = None
    max_depth: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ConfigError(f"ArgumentLimits {name} must be a positive integer, got {value!r}")

    def before_execute(self, ctx: PolicyContext) -> Decision | None:
        """Deny the call when its arguments break a limit."""
        arguments = ctx.call.arguments
        # Depth first, and always bounded: encoding a value nested past the interpreter's recursion limit fails.
        bound = self.max_depth if self.max_depth is not None else 256
        depth = json_depth(arguments, stop_after=bound)
        if depth > bound:
            return Decision.deny(f"Arguments are nested more than {bound} levels deep, the most allowed")
        if self.max_bytes is not None:
            size = len(json.dumps(arguments, ensure_ascii=False, separators=(",", ":"), default=str).encode())
            if size > self.max_bytes:
                return Decision.deny(f"Arguments are {size} bytes as JSON; at most {self.max_bytes} are allowed")
        return None


def json_depth(value: object, stop_after: int | None = None) -> int:
    """How deeply objects and arrays nest in ``value`` (0 for a scalar), computed without recursion.

    Args:
        value: A JSON-like value (dicts, lists and tuples count as containers).
        stop_after: Stop looking once the depth is known to exceed this, and return ``stop_after + 1``.

    Example:
        >>> json_depth(1), json_depth([]), json_depth({"a": [1, {"b": None}]})
        (0, 1, 3)
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Collection[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if stop_after is not None and deepest > stop_after:
                return stop_after + 1
        stack.extend((child, level) for child in children)
    return deepest


@dataclass(frozen=True)
class ArgumentBounds:
    """What a call's raw arguments may cost before they are parsed or validated: size, depth and item count.

    Every toolbox checks each call against its bounds right after resolving the tool and before validation,
    walking the value with an explicit stack (no recursion), so a hostile value costs at most the walk up to the
    first bound it breaks. Argument text (JSON as OpenAI sends it) longer than ``max_chars`` is refused before it
    is parsed. Put an instance among a toolbox's policies to change the bounds; without one the toolbox uses
    `DEFAULT_BOUNDS`. None lifts a bound (not advised: values nested a thousand deep crash recursive code such
    as digests and JSON encoders, and a million keys stall the event loop for seconds during validation).

    Args:
        max_depth: Deepest nesting of objects and arrays (``{"a": [1]}`` is 2 deep).
        max_items: Most object entries plus array items, counted over the whole value.
        max_chars: Most characters of text: every string and key (bytes count by length) plus 8 per other
            scalar; for argument text, its length.

    Raises:
        ConfigError: for a bound that is not a positive integer.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, tool
        >>> @tool
        ... def save(doc: dict) -> int:
        ...     "Save a document."
        ...     return len(doc)
        >>> box = Toolbox([save], policy=ArgumentBounds(max_depth=3))
        >>> box.execute_sync(ToolCall(name="save", arguments={"doc": {"a": 1}})).result
        1
        >>> error = box.execute_sync(ToolCall(name="save", arguments={"doc": {"a": [[1]]}})).error
        >>> error.category, error.code, error.message
        ('validation', 'ARGUMENTS_TOO_LARGE', 'Arguments are nested more than 3 levels deep, the most allowed')
    """

    max_depth: int | None = 64
    max_items: int | None = 100_000
    max_chars: int | None = 8 * 2**20

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_items", "max_chars"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ConfigError(f"ArgumentBounds {name} must be a positive integer, got {value!r}")

    def check(self, arguments: object) -> str | None:
        """Why ``arguments`` break a bound, or None when they fit (never raises, never recurses).

        Example:
            >>> ArgumentBounds(max_items=2).check({"a": [1, 2]}), ArgumentBounds().check('{"a": 1}')
            ('Arguments hold more than 2 items, the most allowed', None)
        """
        if isinstance(arguments, str | bytes | bytearray):
            if self.max_chars is not None and len(arguments) > self.max_chars:
                return f"Arguments are {len(arguments)} characters of text; at most {self.max_chars} are allowed"
            return None
        max_depth = self.max_depth if self.max_depth is not None else math.inf
        max_items = self.max_items if self.max_items is not None else math.inf
        max_chars = self.max_chars if self.max_chars is not None else math.inf
        items = chars = 0
        stack: list[tuple[object, int]] = [(arguments, 0)]
        while stack:
            value, level = stack.pop()
            if isinstance(value, dict):
                children: Collection[object] = value.values()
                keys: Collection[object] = value.keys()
            elif isinstance(value, list | tuple | set | frozenset):
                children, keys = value, ()
            else:
                chars += len(value) if isinstance(value, str | bytes | bytearray) else 8
                if chars > max_chars:
                    return f"Arguments hold more than {self.max_chars} characters, the most allowed"
                continue
            level += 1
            if level > max_depth:
                return f"Arguments are nested more than {self.max_depth} levels deep, the most allowed"
            items += len(children)
            if items > max_items:
                return f"Arguments hold more than {self.max_items} items, the most allowed"
            for key in keys:
                chars += len(key) if isinstance(key, str) else 8
            stack.extend((child, level) for child in children)
        if chars > max_chars:
            return f"Arguments hold more than {self.max_chars} characters, the most allowed"
        return None

    def before_execute(self, ctx: PolicyContext) -> Decision | None:
        """As a tool's own policy: deny a call over the bounds (the toolbox checks its own before validation)."""
        reason = self.check(ctx.call.arguments)
        return Decision.deny(reason) if reason is not None else None


DEFAULT_BOUNDS = ArgumentBounds()
"""The bounds a toolbox applies when none of its policies is an `ArgumentBounds`: 64 levels, 100,000 items,
8 Mi characters. A model's tool call is rarely over a few kilobytes; these leave room for programmatic calls
(workflow nodes passing data along) while keeping the worst call's validation well under a second."""


def bounds_of(policies: Collection[object]) -> ArgumentBounds:
    """The `ArgumentBounds` among ``policies`` (the last one given), else `DEFAULT_BOUNDS`.

    Example:
        >>> bounds_of([]) is DEFAULT_BOUNDS, bounds_of([ArgumentBounds(max_depth=8)]).max_depth
        (True, 8)
    """
    found = [policy for policy in policies if isinstance(policy, ArgumentBounds)]
    return found[-1] if found else DEFAULT_BOUNDS
