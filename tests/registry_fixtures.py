"""A versioned toolbox with a deprecated version, for the CLI tests of tests/test_registry.py."""

from __future__ import annotations

from armorer_ray import Lifecycle, Toolbox, tool
from armorer_ray.registry import create_registry


def build_versioned() -> Toolbox:
    """Two versions of ``echo``; 1.0.0 is deprecated in favour of 2.0.0."""
    registry = create_registry()
    registry.register(tool(name="echo", version="1.0.0", description="Echo v1.",
                           lifecycle=Lifecycle(deprecated=True, replaced_by="default:echo@2.0.0"))(lambda text: text))
    registry.register(tool(name="echo", version="2.0.0", description="Echo v2.")(lambda text: text))
    box: Toolbox = registry.toolbox()
    return box
