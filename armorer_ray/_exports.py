"""Lazy package exports (PEP 562): a package's public names, each imported from its module on first access.

`import armorer_ray` must stay light (issue 12): the package roots list their exports in a name-to-module table
and import nothing until a name is used. Their `TYPE_CHECKING` blocks give type checkers the same names, and
`tests/test_package.py` checks that both lists agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Build a package's module-level ``__getattr__`` and ``__dir__`` over a name-to-module table.

    Args:
        package: The package's ``__name__``, for error messages.
        namespace: The package's ``globals()``: a resolved name is cached there, so later lookups are plain.
        exports: Public name to the module that defines it.
        public: The package's ``__all__``, which ``dir()`` lists.

    Returns:
        ``(__getattr__, __dir__)`` to assign at module level.

    Example:
        >>> getattr_, dir_ = lazy_exports("pkg", {}, {"dumps": "json"}, ["dumps"])
        >>> getattr_("dumps").__module__, dir_()
        ('json', ['dumps'])
        >>> getattr_("nope")
        Traceback (most recent call last):
        AttributeError: module 'pkg' has no attribute 'nope'
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
