"""armorer-ray: validated tools for LLM agents, from a laptop to a Ray cluster."""

from armorer_ray.errors import ConfigError, ToolError

__all__ = ["ConfigError", "ToolError"]
