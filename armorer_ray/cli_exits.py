"""Exit codes of the ``armorer`` command (the table in docs/cli.md) and the usage error every command raises.

Apart from `armorer_ray.cli` so that commands defined elsewhere (``armorer serve``) exit the same way without
importing the CLI module that registers them.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PAUSED", "EXIT_USAGE", "errors", "usage_error"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PAUSED = 0, 1, 2, 3

errors = Console(stderr=True)


def usage_error(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit (code 2) for the caller to raise."""
    # Escaped: messages quote targets and installs such as 'armorer-ray[web]', which rich would read as markup.
    errors.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(EXIT_USAGE)
