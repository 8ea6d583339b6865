"""Which sides of a call get SHA-256 digests: the input, the output, or both (reference §6).

A tool's or toolbox's ``digests`` option is ``True`` (both sides), ``False`` (none), or a `Digests` choosing
each side.

Example:
    >>> from armorer_ray import Toolbox, tool
    >>> echo = tool(name="echo", description="Echo.", digests=Digests(input=False))(lambda text: text)
    >>> result = Toolbox([echo]).execute_sync({"name": "echo", "arguments": {"text": "hi"}})
    >>> result.input_digest is None, len(result.output_digest)
    (True, 64)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["DigestSetting", "Digests", "wants_digest"]


class Digests(BaseModel):
    """Digest sides to compute; each defaults to on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: bool = True
    output: bool = True


DigestSetting = bool | Digests


def wants_digest(tool_setting: DigestSetting | None, toolbox_setting: DigestSetting | None,
                 side: Literal["input", "output"]) -> bool:
    """Whether ``side`` gets a digest: the tool's setting when it has one, else the toolbox's.

    Example:
        >>> wants_digest(Digests(output=False), True, "output"), wants_digest(False, True, "input")
        (False, True)
    """
    for setting in (tool_setting, toolbox_setting):
        if isinstance(setting, Digests):
            return setting.input if side == "input" else setting.output
        if setting:
            return True
    return False
