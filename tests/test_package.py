"""The package root: lazy exports that agree with what type checkers see, and an import that stays light."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import armorer_ray

LAZY_PACKAGES = ["armorer_ray", "armorer_ray.middleware"]


def _type_checking_imports(package: str) -> dict[str, str]:
    """Name to module, read from the `if TYPE_CHECKING:` block of the package's __init__.py."""
    source = Path(importlib.import_module(package).__file__ or "").read_text()
    names: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                names.update({alias.asname or alias.name: statement.module for alias in statement.names})
    return names


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_exports_match_the_names_type_checkers_see(package: str) -> None:
    module = importlib.import_module(package)
    exports: dict[str, str] = module._EXPORTS
    assert exports == _type_checking_imports(package)
    assert set(module.__all__) - {"__version__"} == set(exports)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves_to_the_object_its_module_defines(package: str) -> None:
    module = importlib.import_module(package)
    for name, source in module._EXPORTS.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name), name
    assert dir(module) == sorted(module.__all__)


def test_an_unknown_name_raises_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'armorer_ray' has no attribute 'Toolbx'"):
        armorer_ray.Toolbx  # noqa: B018
    assert not hasattr(armorer_ray, "Toolbx")


def test_the_common_imports_load_no_numpy_bm25s_ray_or_optional_backend() -> None:
    heavy = ("numpy", "scipy", "bm25s", "Stemmer", "ray", "wordllama", "opentelemetry", "redis", "psycopg")
    probe = (
        "import sys, json; import armorer_ray; "
        "from armorer_ray import Toolbox, ToolCall, tool, Cache, RateLimit, query_tools; "
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []


def test_a_lexical_query_still_works_after_a_light_import() -> None:
    probe = (
        "from armorer_ray import Toolbox, tool\n"
        "box = Toolbox([tool(name='send_email', description='Send mail to a customer.')(lambda: 1),\n"
        "               tool(name='list_files', description='List the files in a folder.')(lambda: 1)])\n"
        "print([t.name for t in box.query(text='customers emails')])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "['send_email']"
