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

import dataclasses
import errno
import json
import math
import os
import stat
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import BaseModel

from armorer_ray.errors import ConfigError
from armorer_ray.policy import Decision, PolicyContext

__all__ = ["DEFAULT_BOUNDS", "ArgumentBounds", "ArgumentLimits", "ConfinePaths", "bounds_of", "json_depth",
           "open_beneath"]


@dataclass(frozen=True)
class ConfinePaths:
    """Deny calls whose path arguments resolve outside ``root``.

    A path is resolved as `os.path.realpath` does: relative to the current directory (where the body's ``open``
    will look), ``..`` applied, and every existing symbolic link followed, so ``root/link-to-etc/passwd`` and
    ``root/../etc/passwd`` are both outside. A path that does not exist yet is judged by where it would be. The
    check runs when the call is admitted; a link created or changed after that (by the body or anyone else) is
    not seen by the check: bodies that open such paths should use `ConfinePaths.open` (or `open_beneath`), which
    follows no link at all, so a link swapped in after the check fails the open instead of escaping.

    Args:
        root: The directory paths must stay in (resolved once, here; it must exist).
        params: Names of the arguments that hold paths (a string, `os.PathLike`, or containers of them); None
            checks every `os.PathLike` value (parameters annotated ``Path``) at any depth: in lists, tuples,
            sets, dict keys and values, pydantic model fields and dataclass fields.

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
        """Deny the call at the first path argument outside the root, however deeply it is nested."""
        for where, value in self._candidates(ctx.params):
            if value is _TOO_MANY:
                return Decision.deny(f"Arguments hold more than {_MAX_WALK} values; paths in them cannot be checked")
            if not isinstance(value, str | os.PathLike):
                return Decision.deny(f'Argument "{where}" must be a path, got {type(value).__name__}')
            if not self.contains(value):
                return Decision.deny(f'Argument "{where}" resolves outside the allowed root: {os.fspath(value)!r}')
        return None

    def open(self, path: str | os.PathLike[str], mode: str = "r", *, encoding: str | None = None) -> IO[Any]:
        """Open ``path`` inside the root without following any symbolic link: no time-of-check window.

        `before_execute` checks a path when the call is admitted; a link swapped in after that check would be
        followed by a plain ``open``. This walks the path one component at a time from the root's directory
        descriptor (``openat`` with ``O_NOFOLLOW``), so a link anywhere on the way, made before or after the
        check, fails the open, as does a ``..`` that leaves the root. Use it in bodies that open paths a model chose.

        Args:
            path: Relative to the root, or absolute under it.
            mode: ``r``, ``rb``, ``w``, ``wb``, ``a``, ``ab``, ``x`` or ``xb`` (``+`` allowed).
            encoding: Text encoding (text modes).

        Returns:
            An open file object.

        Raises:
            PermissionError: the path leaves the root, or goes through a symbolic link.
            OSError: what opening the file raised (FileNotFoundError...).

        Example:
            >>> import tempfile
            >>> from pathlib import Path
            >>> root = Path(tempfile.mkdtemp())
            >>> _ = (root / "notes.txt").write_text("hello")
            >>> (root / "link").symlink_to("/etc/passwd")
            >>> confine = ConfinePaths(root)
            >>> with confine.open("notes.txt") as handle:
            ...     handle.read()
            'hello'
            >>> confine.open(root / "link")
            Traceback (most recent call last):
            ...
            PermissionError: ... is a symbolic link: ConfinePaths.open follows none
            >>> import shutil; shutil.rmtree(root)
        """
        fd = open_beneath(self._resolved, path, _flags(mode))
        return os.fdopen(fd, mode, encoding=encoding)

    def _candidates(self, params: Any) -> Iterator[tuple[str, object]]:
        # Iterative walk into dicts (keys and values), lists, tuples, sets, pydantic models and dataclasses.
        stack: list[tuple[str, object, bool]] = []
        for name, value in reversed(list(params.items())):
            if self.params is None or name in self.params:
                stack.append((name, value, self.params is not None))
        seen = 0
        while stack:
            where, value, named = stack.pop()
            seen += 1
            if seen > _MAX_WALK:
                yield where, _TOO_MANY
                return
            children = _children(where, value)
            if children is not None:
                stack.extend((child_where, child, named) for child_where, child in reversed(children))
            elif isinstance(value, os.PathLike) or (named and value is not None):
                yield where, value


_MAX_WALK = 100_000
_TOO_MANY = object()


def _children(where: str, value: object) -> list[tuple[str, object]] | None:
    if isinstance(value, str | bytes | os.PathLike) or value is None:
        return None
    if isinstance(value, dict):
        keys: list[tuple[str, object]] = [(f"{where}.<key>", key) for key in value if isinstance(key, os.PathLike)]
        return keys + [(f"{where}.{key}", item) for key, item in value.items()]
    if isinstance(value, list | tuple):
        return [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        return [(f"{where}[]", item) for item in value]
    if isinstance(value, BaseModel):
        return [(f"{where}.{name}", item) for name, item in value.__dict__.items()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f"{where}.{f.name}", getattr(value, f.name)) for f in dataclasses.fields(value)]
    return None


def _flags(mode: str) -> int:
    base = mode.replace("b", "").replace("t", "")
    plus = "+" in base
    table = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
             "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}
    kind = base.replace("+", "")
    if kind not in table:
        raise ValueError(f"unsupported mode {mode!r}")
    flags = table[kind]
    if plus:
        flags = (flags & ~(os.O_RDONLY | os.O_WRONLY)) | os.O_RDWR
    return flags


def open_beneath(root: str | os.PathLike[str], path: str | os.PathLike[str], flags: int = os.O_RDONLY,
                 mode: int = 0o666) -> int:
    """Open ``path`` under ``root`` component by component, following no symbolic link; return the descriptor.

    Args:
        root: A directory (its own path may contain links: it is trusted).
        path: Relative to ``root``, or absolute and under it.
        flags: ``os.open`` flags (``O_NOFOLLOW`` and ``O_CLOEXEC`` are added).
        mode: Permission bits for a created file.

    Raises:
        PermissionError: for a path outside ``root``, a ``..`` that leaves it, or a symbolic link on the way.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> fd = open_beneath(root, "new.txt", os.O_WRONLY | os.O_CREAT)
        >>> os.close(fd)
        >>> open_beneath(root, "../etc/passwd")
        Traceback (most recent call last):
        ...
        PermissionError: '../etc/passwd' leaves the root
    """
    base = os.path.realpath(root)
    text = os.fspath(path)
    if "\x00" in text:
        raise PermissionError(f"{text!r} holds a NUL byte")
    if os.path.isabs(text):
        relative = os.path.relpath(os.path.normpath(text), base)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise PermissionError(f"{text!r} is outside the root")
    else:
        relative = text
    parts: list[str] = []
    for part in relative.split(os.sep):
        if part in ("", os.curdir):
            continue
        if part == os.pardir:
            if not parts:
                raise PermissionError(f"{text!r} leaves the root")
            parts.pop()
        else:
            parts.append(part)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                step = os.open(part, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow | os.O_CLOEXEC,
                               dir_fd=directory)
            except OSError as exc:
                _raise_if_link(exc, directory, part, text)
                raise
            os.close(directory)
            directory = step
        if not parts:
            return os.dup(directory)
        try:
            return os.open(parts[-1], flags | nofollow | os.O_CLOEXEC, mode, dir_fd=directory)
        except OSError as exc:
            _raise_if_link(exc, directory, parts[-1], text)
            raise
    finally:
        os.close(directory)


def _raise_if_link(exc: OSError, directory: int, part: str, text: str) -> None:
    # O_NOFOLLOW on a link fails with ELOOP (ENOTDIR where a directory is expected): say so, as a refusal.
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return
    try:
        is_link = stat.S_ISLNK(os.stat(part, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return
    if is_link:
        raise PermissionError(f"{text!r} is a symbolic link: ConfinePaths.open follows none") from None


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


def _flat_size(arguments: dict[object, object]) -> tuple[int, int, int] | None:
    """Depth, items and characters of an object holding only scalars and lists of scalars, counted as
    `ArgumentBounds.check` counts them; None for anything nested deeper (the full walk measures it).

    Example:
        >>> _flat_size({"q": "ray", "ids": [1, 2]}), _flat_size({"a": {"b": 1}})
        ((2, 4, 23), None)
    """
    depth, items, chars = 1, len(arguments), 0
    for key, value in arguments.items():
        chars += len(key) if type(key) is str else 8
        kind = type(value)
        if kind is str:
            chars += len(value)  # type: ignore[arg-type]  # type(value) is str was checked
        elif kind is int or kind is bool or kind is float or value is None:
            chars += 8
        elif kind is list or kind is tuple:
            depth = 2
            items += len(value)  # type: ignore[arg-type]  # a list or a tuple
            for item in value:  # type: ignore[attr-defined]  # a list or a tuple
                kind = type(item)
                if kind is str:
                    chars += len(item)
                elif kind is int or kind is bool or kind is float or item is None:
                    chars += 8
                else:
                    return None
        else:
            return None
    return depth, items, chars


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
            >>> ArgumentBounds(max_items=2).check({"a": [1, 2]})
            'Arguments hold more than 2 items, the most allowed (a toolbox that moves bulk data raises ...)'
            >>> ArgumentBounds().check('{"a": 1}') is None
            True
        """
        if type(arguments) is dict:
            flat = _flat_size(arguments)  # most calls: an object of scalars and lists of scalars, walked in one loop
            if flat is not None and (self.max_depth is None or flat[0] <= self.max_depth) and (
                    self.max_items is None or flat[1] <= self.max_items) and (
                    self.max_chars is None or flat[2] <= self.max_chars):
                return None
        elif isinstance(arguments, str | bytes | bytearray):
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
                return (f"Arguments hold more than {self.max_items} items, the most allowed (a toolbox that "
                        f"moves bulk data raises ArgumentBounds.max_items)")
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
