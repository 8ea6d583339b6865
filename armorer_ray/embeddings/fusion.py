"""The parts of hybrid ranking that look at the data of one query: adaptive weights and conversation text.

Example:
    >>> conversation_text(["Book a flight to Oslo", {"role": "assistant", "content": "Booked AF12 and KL34."}], 2)
    'Book a flight to Oslo\\nBooked AF12 and KL34.'
    >>> [round(w, 2) for w in adaptive_weights([(0.5, {"a": 9.0, "b": 1.0, "c": 1.0}),
    ...                                         (0.5, {"a": 0.8, "b": 0.79, "c": 0.78})])]
    [0.57, 0.43]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from armorer_ray.errors import ConfigError

__all__ = ["Turn", "adaptive_weights", "conversation_text", "separation"]

Turn = str | Mapping[str, object]
"""An earlier turn: plain text, or a chat message with ``role`` and ``content`` (text or a list of text parts)."""

_HEAD = 10  # candidates after the best one whose scores say how clearly the best one stands out


def separation(scores: Sequence[float]) -> float:
    """How clearly a ranking's best candidate stands out: 1 - mean min-max-normalised score of the next ten.

    1.0 when one candidate leads and the rest score like the worst; near 0 when the head is flat (many candidates
    as good as the best, so the ranking says little about which tool is meant).

    Example:
        >>> separation([3.0, 1.0, 1.0]), separation([2.0, 2.0, 0.0])  # the second: a tie for first
        (1.0, 0.5)
    """
    array = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if array.size < 2:
        return 1.0
    span = array[0] - array[-1]
    if span <= 0:
        return 0.0
    head = (array[1:1 + _HEAD] - array[-1]) / span
    return float(1.0 - head.mean())


def adaptive_weights(rankings: Sequence[tuple[float, Mapping[str, float]]]) -> list[float]:
    """Per-query weights of fused rankings: each base weight scaled by its ranking's `separation`.

    The weights are rescaled to the sum of the base weights of the rankings that returned candidates, so scores stay
    comparable across queries; when no ranking separates anything, the base weights are kept.

    Args:
        rankings: ``(base weight, {tool id: raw score})`` per ranking.

    Returns:
        One weight per ranking (0 for a ranking with no candidates).
    """
    base = [weight if scores else 0.0 for weight, scores in rankings]
    raw = [weight * separation(list(scores.values())) if scores else 0.0 for weight, scores in rankings]
    total = sum(raw)
    if total <= 0:
        return base
    return [value * sum(base) / total for value in raw]


def conversation_text(context: Sequence[Turn], turns: int) -> str:
    """The text of the latest ``turns`` user or assistant turns of ``context`` (oldest first), one per line.

    System and tool messages are skipped: tool results are data, not what the user is asking about.

    Raises:
        ConfigError: for a turn that is neither a string nor a message mapping.
    """
    if isinstance(context, str):
        raise ConfigError("context takes a list of turns (strings or messages), not one string")
    texts: list[str] = []
    for turn in context:
        if isinstance(turn, str):
            text = turn
        elif isinstance(turn, Mapping):
            if turn.get("role", "user") not in ("user", "assistant"):
                continue
            text = _content_text(turn.get("content"))
        else:
            raise ConfigError(f"a context turn must be a string or a message mapping, got {type(turn).__name__}")
        if text.strip():
            texts.append(text.strip())
    return "\n".join(texts[-turns:]) if turns > 0 else ""


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, Mapping) and part.get("type", "text") == "text")
    return ""
