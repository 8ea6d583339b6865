"""`armorer migrate`: rewrite a project's Python code for renamed and moved armorer-ray names (a libcst codemod).

For each rule of `armorer_ray.deprecations.MOVED` it rewrites ``from old.module import Old [as x]`` into
``from new.module import New [as x]`` (splitting an import that also names other things), the uses of ``Old``
in that file when it was imported without ``as``, and dotted uses such as ``old.module.Old``. Formatting and
comments elsewhere are kept (libcst edits the concrete syntax tree). By default nothing is written: the diff is
printed; ``--write`` applies it.

Needs ``pip install 'armorer-ray[migrate]'``.

Example:
    >>> result = migrate_source("from armorer_ray.telemetry.analytics import Analytics, CostFunction\\n"
    ...                         "cost: CostFunction = lambda call, result: 1.0\\n")
    >>> print(result.code, end="")
    from armorer_ray.telemetry.analytics import Analytics, ResultCost
    cost: ResultCost = lambda call, result: 1.0
    >>> result.changes
    ('armorer_ray.telemetry.analytics.CostFunction -> armorer_ray.telemetry.analytics.ResultCost',)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armorer_ray.deprecations import Moved, available_moves
from armorer_ray.errors import ConfigError, MissingExtraError

__all__ = ["FileMigration", "Migrated", "migrate_paths", "migrate_source"]


@dataclass(frozen=True, slots=True)
class Migrated:
    """The rewritten source and what changed (one line per rewritten name)."""

    code: str
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileMigration:
    """One file that needs rewriting: its unified diff and the changes."""

    path: Path
    diff: str
    changes: tuple[str, ...]


def _libcst() -> Any:
    try:
        import libcst
    except ImportError as exc:
        raise MissingExtraError(f"armorer migrate ({exc})", "migrate") from exc
    return libcst


def _dotted(node: Any) -> str | None:
    cst = _libcst()
    if isinstance(node, cst.Name):
        return str(node.value)
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def _transformer(rules: Sequence[Moved]) -> Any:
    cst = _libcst()
    by_module: dict[str, dict[str, Moved]] = {}
    for rule in rules:
        by_module.setdefault(rule.old_module, {})[rule.old_name] = rule
    by_path = {f"{rule.old_module}.{rule.old_name}": rule for rule in rules}

    class Rewriter(cst.CSTTransformer):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.renamed: dict[str, str] = {}  # names imported without `as` whose local name changes
            self.changes: list[str] = []

        def leave_SimpleStatementLine(self, original: Any, updated: Any) -> Any:
            if len(updated.body) != 1 or not isinstance(updated.body[0], cst.ImportFrom):
                return updated
            statement = updated.body[0]
            module = _dotted(statement.module) if statement.module is not None and not statement.relative else None
            table = by_module.get(module or "")
            if table is None or isinstance(statement.names, cst.ImportStar):
                return updated
            groups: dict[str, list[Any]] = {module: []}  # type: ignore[dict-item]
            for alias in statement.names:
                rule = table.get(str(alias.name.value)) if isinstance(alias.name, cst.Name) else None
                clean = alias.with_changes(comma=cst.MaybeSentinel.DEFAULT)
                if rule is None:
                    groups[module].append(clean)  # type: ignore[index]
                    continue
                if alias.asname is None and rule.new_name != rule.old_name:
                    self.renamed[rule.old_name] = rule.new_name
                groups.setdefault(rule.new_module, []).append(clean.with_changes(name=cst.Name(rule.new_name)))
                self.changes.append(f"{rule.old_module}.{rule.old_name} -> {rule.new_module}.{rule.new_name}")
            if len(groups) == 1 and all(a.name.value == o.name.value for a, o in zip(
                    groups[module], statement.names, strict=False)):  # type: ignore[index]
                return updated
            lines: list[Any] = []
            for target, aliases in groups.items():
                if not aliases:
                    continue
                names = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                         for a in aliases[:-1]] + [aliases[-1]]
                new = cst.ImportFrom(module=cst.parse_expression(target), names=names)
                lines.append(updated.with_changes(body=[new], leading_lines=updated.leading_lines if not lines
                                                  else []))
            return cst.FlattenSentinel(lines)

        def leave_Name(self, original: Any, updated: Any) -> Any:
            new = self.renamed.get(str(updated.value))
            return updated.with_changes(value=new) if new else updated

        def leave_Attribute(self, original: Any, updated: Any) -> Any:
            updated = updated.with_changes(attr=original.attr)  # an attribute is not the imported name
            rule = by_path.get(_dotted(original) or "")
            if rule is None:
                return updated
            self.changes.append(f"{rule.old_module}.{rule.old_name} -> {rule.new_module}.{rule.new_name}")
            return cst.parse_expression(f"{rule.new_module}.{rule.new_name}")

        def leave_Arg(self, original: Any, updated: Any) -> Any:
            return updated.with_changes(keyword=original.keyword)  # keyword names are not the imported name

    return Rewriter()


def migrate_source(code: str, rules: Sequence[Moved] | None = None) -> Migrated:
    """Rewrite one module's source.

    Args:
        code: Python source.
        rules: The renames to apply (default: every known one whose new module is installed).

    Returns:
        The new source (identical when nothing applies) and the changes.

    Raises:
        ConfigError: when ``code`` is not valid Python.
        MissingExtraError: when libcst is not installed.
    """
    cst = _libcst()
    try:
        tree = cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        raise ConfigError(f"cannot migrate code that does not parse: {exc}") from exc
    rewriter = _transformer(available_moves() if rules is None else rules)
    new = tree.visit(rewriter)
    return Migrated(new.code, tuple(rewriter.changes))


def _python_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.py")) if not any(part.startswith(".") for part in p.parts))
        elif path.suffix == ".py":
            files.append(path)
        else:
            raise ConfigError(f"{path} is neither a directory nor a .py file")
    return files


def migrate_paths(paths: Iterable[Path], *, write: bool = False,
                  rules: Sequence[Moved] | None = None) -> list[FileMigration]:
    """Migrate every ``.py`` file under ``paths`` (hidden directories skipped).

    Args:
        paths: Files and directories.
        write: Apply the changes; otherwise only report them (a dry run).
        rules: The renames to apply (default: as `migrate_source`).

    Returns:
        The files that need (or, with ``write``, got) changes, each with its unified diff.
    """
    out: list[FileMigration] = []
    rules = available_moves() if rules is None else rules
    for path in _python_files(paths):
        before = path.read_text(encoding="utf-8")
        result = migrate_source(before, rules)
        if result.code == before:
            continue
        diff = "".join(difflib.unified_diff(before.splitlines(keepends=True), result.code.splitlines(keepends=True),
                                            fromfile=f"a/{path}", tofile=f"b/{path}"))
        if write:
            path.write_text(result.code, encoding="utf-8")
        out.append(FileMigration(path, diff, result.changes))
    return out
