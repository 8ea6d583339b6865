"""Middleware: onion layers around a call's execution, ``async (call, ctx, next) -> ToolResult``.

Order: the toolbox's middleware wraps the tool's, which wraps the body; the first middleware in a list is the
outermost. Middleware runs after argument validation and the before-policy, so it sees only admitted calls
(``ctx.params`` holds the validated arguments), and before output validation and shaping of the result it
returns. A layer that changes the call (``await next(new_call, ctx)``) gets the new arguments validated again.
"""

from __future__ import annotations

from armorer_ray.middleware.base import Middleware, Next, chain

__all__ = ["Middleware", "Next", "chain"]
