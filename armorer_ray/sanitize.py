"""Input sanitization policies: refuse arguments a body should never see, before it runs.

- `ConfinePaths` denies a call whose path arguments resolve outside a root directory, following ``..`` and
  symbolic links the way the operating system will when the body opens the path;
- `ArgumentLimits` denies a call whose arguments, as sent, are too large or too deeply nested.

Both are policies (``before_execute``), so a refused call ends as a ``permission`` error coded ``POLICY_DENIED``
with the reason, never reaches middleware, and costs no rate-limit token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.policy import Decision, PolicyContext

__all__ = ["ArgumentLimits", "ConfinePaths", "json_depth"]


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
