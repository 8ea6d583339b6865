"""armorer_ray.serve's lazy exports agree with its TYPE_CHECKING names, and importing it loads no Ray."""

from __future__ import annotations

import json
import subprocess
import sys

import armorer_ray.serve as serve_package
from tests.test_package import _type_checking_imports


def test_lazy_exports_match_the_names_type_checkers_see_and_resolve() -> None:
    assert _type_checking_imports("armorer_ray.serve") == serve_package._EXPORTS
    assert set(serve_package.__all__) == set(serve_package._EXPORTS)
    for name in serve_package.__all__:
        assert getattr(serve_package, name) is not None


def test_importing_the_package_and_the_cli_loads_neither_ray_nor_starlette() -> None:
    probe = ("import sys, json; import armorer_ray.serve; from armorer_ray.serve import BearerTokens, Principal; "
             "import armorer_ray.cli; "
             "print(json.dumps(sorted(m for m in ('ray', 'starlette', 'mcp') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []
