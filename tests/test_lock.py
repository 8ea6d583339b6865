"""requirements.lock pins everything `make test` installs, so a fresh clone gets exactly what CI tested."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TEST_EXTRAS = ("test", "minilm")  # the Makefile's TEST_EXTRAS


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.!\-]+)", line.strip())
            assert match, f"requirements.lock line is not an exact pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """The project's direct requirements for these extras, self-references (armorer-ray[all]) expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "armorer-ray":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    environment = default_environment()
    return [r for r in found if r.marker is None or r.marker.evaluate({**environment, "extra": ""})]


def test_every_lock_line_is_an_exact_pin_and_names_are_unique() -> None:
    lines = [line for line in (ROOT / "requirements.lock").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(_lock()) == len(lines) > 50


def test_every_requirement_of_the_test_install_is_pinned_within_its_range() -> None:
    pins = _lock()
    problems = []
    for requirement in _requirements(TEST_EXTRAS):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in requirements.lock: run `make lock`")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} in the lock is outside {requirement}: run `make lock`")
    assert problems == []


def test_build_tools_are_pinned_too() -> None:
    assert {"pip", "setuptools", "wheel"} <= set(_lock())
