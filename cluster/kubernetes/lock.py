"""Write the image's lock file: every distribution ``armorer-ray[serve]`` needs, pinned to the version installed in
the environment that ran the tests (so the image gets what was tested, not whatever resolves on build day).

    python cluster/kubernetes/lock.py > cluster/kubernetes/requirements.lock

Starts from pyproject.toml's requirements (core plus the extras below; the file, not the installed metadata, which
an editable install leaves stale) and walks the installed metadata of each, evaluating environment
markers for Linux x86-64 CPython 3.11 (the rayproject/ray py311 images). Fails if a needed distribution is missing.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("serve",)
TARGET = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.9",
          "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def wanted(requirement: Requirement, extras: tuple[str, ...]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**TARGET, "extra": extra}) for extra in extras or ("",))


def roots(extras: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    found = [Requirement(line) for line in lines]
    return [(r.name, tuple(sorted(r.extras))) for r in found if wanted(r, ())]


def closure(extras: tuple[str, ...]) -> dict[str, str]:
    pinned: dict[str, str] = {}
    queue = roots(extras)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while queue:
        name, with_extras = queue.pop()
        if (name, with_extras) in seen:
            continue
        seen.add((name, with_extras))
        dist = metadata.distribution(name)
        pinned[canonicalize_name(name)] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            if wanted(requirement, with_extras):
                queue.append((requirement.name, tuple(sorted(requirement.extras))))
    return pinned


def main() -> int:
    pins = closure(EXTRAS)
    print(f"# armorer-ray[{','.join(EXTRAS)}] and everything it needs, pinned to the tested environment.")
    print("# Regenerate: python cluster/kubernetes/lock.py > cluster/kubernetes/requirements.lock")
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
