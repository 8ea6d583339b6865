"""The public surface: root re-exports, and no optional backend imported by importing the package."""

from __future__ import annotations

import json
import subprocess
import sys

import armorer_ray
import armorer_ray.middleware as middleware


def test_common_layers_are_exported_from_the_root_and_the_package() -> None:
    for name in ("Cache", "RateLimit", "Timeout", "Retry", "CircuitBreaker", "Dedupe", "Fallback", "Compression",
                 "AdmissionController", "Middleware", "Next"):
        assert name in armorer_ray.__all__ and getattr(armorer_ray, name) is getattr(middleware, name)
    assert all(hasattr(middleware, name) for name in middleware.__all__)
    assert "chain" in middleware.__all__


def test_importing_the_package_loads_no_optional_backend() -> None:
    probe = ("import sys, json, armorer_ray, armorer_ray.middleware, armorer_ray.compose; "
             "print(json.dumps(sorted(m for m in ('redis', 'aiomcache', 'brotli', 'zstandard') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []
