"""Reading store options out of URL query strings, so ``redis://host/0?key_prefix=app:`` configures a store."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from armorer_ray.errors import ConfigError
from armorer_ray.stores._base import StoreOptions

OptionsT = TypeVar("OptionsT", bound=StoreOptions)


def split_query(
    url: str, options_type: type[StoreOptions], *, reserved: Collection[str] = (), passthrough: bool = False
) -> tuple[str, dict[str, str]]:
    """Take the query parameters that name fields of `options_type` out of `url`.

    Args:
        url: The store URL.
        options_type: The backend's options model; its fields, less `reserved`, are the parameters we own.
        reserved: Fields that are never read from the query (the URL itself, say).
        passthrough: Leave other parameters in the URL for the driver (Redis and libpq read their own); without
            it they are returned too, so the options model rejects them as unknown.

    Returns:
        The URL without our parameters, and our parameters by name.
    """
    parts = urlsplit(url)
    ours = set(options_type.model_fields) - set(reserved)
    mine: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ours or not passthrough:
            mine[name] = value
        else:
            theirs.append((name, value))
    rest = urlunsplit(parts._replace(query=urlencode(theirs)))
    if "://" in url and "://" not in rest:  # urlunsplit drops an empty authority ("redis://" -> "redis:")
        rest = rest.replace(":", "://", 1)
    return rest, mine


def build_options(options_type: type[OptionsT], fields: Mapping[str, object]) -> OptionsT:
    """Validate options read from a URL, reporting problems as ConfigError (URLs come from configuration)."""
    try:
        return options_type.model_validate(dict(fields))
    except ValidationError as exc:
        raise ConfigError(f"invalid {options_type.__name__} in store URL: {exc}") from exc


def options_from_url(url: str, options_type: type[OptionsT]) -> tuple[str, OptionsT]:
    """`split_query` then `build_options`, for backends whose every option may come from the query."""
    rest, fields = split_query(url, options_type)
    return rest, build_options(options_type, fields)
