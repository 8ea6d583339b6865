"""Parameter models from function signatures, dicts of fields, and their JSON Schema."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from docstring_parser import parse as parse_docstring
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from armorer_ray.errors import ConfigError
from armorer_ray.json_values import sorted_json

__all__ = ["ExtraArguments", "FunctionSignature", "json_schema", "model_from_fields", "read_function"]

ExtraArguments = Literal["forbid", "ignore", "allow", "strip", "reject"]
"""What unknown arguments do: ``forbid`` / ``reject`` fail validation (our default), ``ignore`` / ``strip`` drop them
(Armorer's default, zod's), ``allow`` passes them to the body."""

_PYDANTIC_EXTRA: dict[str, Literal["forbid", "ignore", "allow"]] = {
    "forbid": "forbid", "reject": "forbid", "ignore": "ignore", "strip": "ignore", "allow": "allow"}


def pydantic_extra(extra: ExtraArguments) -> Literal["forbid", "ignore", "allow"]:
    """Pydantic's ``extra`` setting for an `ExtraArguments` choice (``strip`` and ``reject`` are aliases).

    Raises:
        ConfigError: for an unknown choice.

    Example:
        >>> pydantic_extra("strip"), pydantic_extra("reject")
        ('ignore', 'forbid')
    """
    try:
        return _PYDANTIC_EXTRA[extra]
    except (KeyError, TypeError):
        raise ConfigError(f"extra_arguments must be one of {sorted(_PYDANTIC_EXTRA)}, got {extra!r}") from None
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True, slots=True)
class FunctionSignature:
    """What a tool learns from its function: parameter model, description, and where context goes."""

    model: type[BaseModel]
    description: str
    context_param: str | None
    takes_var_kwargs: bool


def _is_context_annotation(annotation: object) -> bool:
    from armorer_ray.context import CallContext

    if annotation is CallContext:
        return True
    return any(arg is CallContext for arg in typing.get_args(annotation))


def read_function(fn: Callable[..., Any], model_name: str, extra: ExtraArguments, *,
                  build_model: bool = True) -> FunctionSignature:
    """Build the parameter model of ``fn`` from its type hints, defaults and docstring.

    Per-parameter descriptions come from ``Annotated[..., Field(description=...)]`` or, failing that, from the
    docstring's Args (Google, NumPy or reST style). A parameter annotated ``CallContext`` receives the context
    and is left out of the model.

    With ``build_model=False`` only the description and the context parameter are read (the model is empty).

    Raises:
        ConfigError: for ``*args`` parameters or hints that cannot be resolved.

    Example:
        >>> def add(a: int, b: int = 2) -> int:
        ...     '''Add two numbers.
        ...
        ...     Args:
        ...         a: First addend.
        ...     '''
        ...     return a + b
        >>> sig = read_function(add, "add", "forbid")
        >>> sig.description, sig.model.model_fields["a"].description, sig.model.model_fields["b"].default
        ('Add two numbers.', 'First addend.', 2)
    """
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for forward references, TypeError for odd objects
        if build_model:
            raise ConfigError(f"cannot read type hints of {model_name}: {exc}") from exc
        hints = {}
    raw_doc = inspect.getdoc(fn)
    doc = _parse_docstring(raw_doc) if raw_doc else _NO_DOC
    doc_params = {param.arg_name: param.description for param in doc.params if param.description}
    description = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    var_kwargs = False
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:  # builtins without a signature
        if build_model:
            raise ConfigError(f"cannot read the signature of {model_name}: {exc}") from exc
        return FunctionSignature(_EMPTY, description, None, False)
    for param in signature.parameters.values():
        annotation = hints.get(param.name, Any)
        if param.kind is param.VAR_POSITIONAL:
            raise ConfigError(f"tool {model_name!r} cannot take *{param.name}: tool arguments are named")
        if param.kind is param.VAR_KEYWORD:
            var_kwargs = True
            continue
        if _is_context_annotation(annotation):
            context_param = param.name
            continue
        if build_model:
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (annotation, _field_info(annotation, default, doc_params.get(param.name)))
    if not build_model:
        return FunctionSignature(_EMPTY, description, context_param, var_kwargs)
    config = ConfigDict(extra="allow" if var_kwargs else pydantic_extra(extra), arbitrary_types_allowed=True)
    model = create_model(_model_name(model_name), __config__=config, **fields)
    return FunctionSignature(model, description, context_param, var_kwargs)


@functools.lru_cache(maxsize=4096)
def _parse_docstring(text: str) -> Any:
    # Parsing tries every docstring style in turn; catalogues repeat docstrings, so results are memoised.
    return parse_docstring(text)


_NO_DOC = parse_docstring("")


class _Empty(BaseModel):
    """Stand-in model when only a function's description and context parameter are read."""


_EMPTY = _Empty


def _field_info(annotation: object, default: object, doc: str | None) -> FieldInfo:
    has_description = any(
        isinstance(meta, FieldInfo) and meta.description for meta in getattr(annotation, "__metadata__", ())
    )
    if isinstance(default, FieldInfo):
        if doc and not default.description and not has_description:
            default.description = doc
        return default
    if has_description or not doc:
        return cast(FieldInfo, Field(default))
    return cast(FieldInfo, Field(default, description=doc))


def _model_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "tool"
    return f"{cleaned}_parameters"


def model_from_fields(name: str, fields: Mapping[str, Any], extra: ExtraArguments = "forbid") -> type[BaseModel]:
    """Build a parameter model from ``{field: type}``, ``{field: (type, default)}`` or ``{field: Field(...)}``.

    Example:
        >>> model = model_from_fields("greet", {"name": str, "times": (int, 1)})
        >>> model(name="x").times
        1
    """
    spec: dict[str, Any] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"tool {name!r}: field names must be non-empty strings, got {key!r}")
        if isinstance(value, tuple) and len(value) == 2:
            spec[key] = value
        elif isinstance(value, FieldInfo):
            spec[key] = (value.annotation or Any, value)
        else:
            spec[key] = (value, ...)
    try:
        return create_model(_model_name(name), __config__=ConfigDict(extra=pydantic_extra(extra)), **spec)
    except Exception as exc:
        raise ConfigError(f"tool {name!r}: invalid parameter fields: {exc}") from exc


def json_schema(model: type[BaseModel], mode: Literal["validation", "serialization"] = "validation") -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of a model: ``$schema`` set, generated titles dropped, keys sorted.

    Example:
        >>> json_schema(model_from_fields("t", {"b": int, "a": (str, "x")}))["required"]
        ['b']
    """
    raw = model.model_json_schema(mode=mode)
    cleaned = _drop_titles(raw)
    cleaned["$schema"] = JSON_SCHEMA_DIALECT
    return sorted_json(cleaned)  # type: ignore[no-any-return]


def _drop_titles(node: Any, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        # Generated titles repeat the field name; keep properties literally named "title".
        return {
            key: _drop_titles(value, key == "properties")
            for key, value in node.items()
            if in_properties or not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_drop_titles(item) for item in node]
    return node
