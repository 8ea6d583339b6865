"""Tool identities: ``namespace:name@version`` ids, parsed and formatted losslessly."""

from __future__ import annotations

import re
from typing import NewType
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, field_validator

from armorer_ray.errors import ConfigError

__all__ = ["DEFAULT_NAMESPACE", "ToolId", "ToolIdentity", "compare_versions", "format_tool_id", "parse_tool_id"]

DEFAULT_NAMESPACE = "default"

ToolId = NewType("ToolId", str)
"""A formatted tool id (``namespace:name@version``); nominal so ids and bare names are not mixed up."""

# Same safe set as JavaScript's encodeURIComponent, so ids stay identical to the TypeScript Armorer's.
_SAFE = "-_.!~*'()"


class ToolIdentity(BaseModel):
    """Who a tool is: namespace, name and optional version.

    Example:
        >>> ToolIdentity(name=" search ").name
        'search'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = DEFAULT_NAMESPACE
    name: str
    version: str | None = None

    @field_validator("namespace", "name", "version", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name_required(cls, value: str) -> str:
        if not value:
            raise ValueError("Tool identity requires a name")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_default(cls, value: str) -> str:
        return value or DEFAULT_NAMESPACE

    @field_validator("version")
    @classmethod
    def _empty_version(cls, value: str | None) -> str | None:
        return value or None

    @property
    def id(self) -> ToolId:
        """This identity formatted as an id."""
        return format_tool_id(self)


def format_tool_id(identity: ToolIdentity) -> ToolId:
    """Render an identity as ``namespace:name[@version]``, percent-encoding each part.

    Args:
        identity: The namespace, name and optional version to render.

    Returns:
        The id string that `parse_tool_id` reads back to an equal identity.

    Example:
        >>> format_tool_id(ToolIdentity(namespace="team/tools", name="needs space", version="v1.0.0+exp"))
        'team%2Ftools:needs%20space@v1.0.0%2Bexp'
    """
    text = f"{quote(identity.namespace, safe=_SAFE)}:{quote(identity.name, safe=_SAFE)}"
    if identity.version:
        text += f"@{quote(identity.version, safe=_SAFE)}"
    return ToolId(text)


def parse_tool_id(tool_id: str) -> ToolIdentity:
    """Read an id back into an identity; a string without ``:`` is a bare name in the default namespace.

    Args:
        tool_id: ``namespace:name@version``, ``namespace:name`` or a bare name.

    Returns:
        The identity the id denotes.

    Raises:
        ConfigError: for a non-string or blank id.

    Example:
        >>> parse_tool_id("default:sum@1.0.0")
        ToolIdentity(namespace='default', name='sum', version='1.0.0')
        >>> parse_tool_id("name@with-at").name
        'name@with-at'
    """
    if not isinstance(tool_id, str):
        raise ConfigError("ToolId must be a string")
    if not tool_id.strip():
        raise ConfigError("ToolId must not be empty")
    namespace, sep, rest = tool_id.partition(":")
    if not sep:
        return ToolIdentity(name=unquote(tool_id))
    name, at, version = rest.partition("@")
    return ToolIdentity(namespace=unquote(namespace), name=unquote(name), version=unquote(version) if at else None)


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _semver_key(version: str) -> tuple[object, ...] | None:
    match = _SEMVER.match(version)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        # A release sorts above every prerelease of the same core version.
        return (int(major), int(minor), int(patch), 1, ())
    parts: list[tuple[int, int | str]] = [
        (1, int(part)) if part.isdigit() else (0, part) for part in pre.split(".")
    ]
    # Numeric identifiers rank above alphanumeric ones, and a shorter prerelease wins over a longer one
    # with the same prefix (as the TypeScript registry's tests pin); the end marker (2,) encodes that.
    return (int(major), int(minor), int(patch), 0, (*parts, (2, 0)))


def compare_versions(a: str, b: str) -> int:
    """Order two versions: semver-aware when both are semver, else by string; returns -1, 0 or 1.

    Example:
        >>> compare_versions("1.10.0", "1.9.0"), compare_versions("1.0.0-alpha", "1.0.0-alpha.1")
        (1, 1)
    """
    ka, kb = _semver_key(a), _semver_key(b)
    left: object = ka if ka is not None and kb is not None else a
    right: object = kb if ka is not None and kb is not None else b
    return int(left > right) - int(left < right)  # type: ignore[operator]  # both sides are semver keys or both strings, which mypy cannot see through object
