"""Loads cluster/kubernetes/manifests.py (a script, not a package) for the tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "cluster" / "kubernetes"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"armorer_cluster_{name}", KUBE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


manifests = load("manifests")
