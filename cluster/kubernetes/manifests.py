"""Check the KubeRay manifests here against KubeRay's CRDs, offline (no Kubernetes runs on these machines).

    python cluster/kubernetes/manifests.py [CRD_DIR]     # default: ../shared/kuberay/crd beside the repository

Each manifest is validated against the ``openAPIV3Schema`` of its CRD version with `jsonschema`, made strict the
way the API server's field validation is: an object whose schema lists ``properties`` accepts no other keys
(unless it says ``x-kubernetes-preserve-unknown-fields`` or gives ``additionalProperties``), so a misspelt field is
an error here, not silently pruned there. What this cannot check: the CRDs' CEL rules (``x-kubernetes-validations``,
none of which concern fields these manifests set), admission webhooks, and the operator's own run-time checks.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MANIFESTS = ("raycluster.yaml", "rayjob.yaml", "rayservice.yaml")
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def crd_dir_candidates(repo: Path = REPO) -> list[Path]:
    """``../shared/kuberay/crd`` beside the repository, and beside the main checkout when this is a git worktree."""
    candidates = [repo.parent / "shared" / "kuberay" / "crd"]
    git = repo / ".git"
    if git.is_file():  # a worktree: ".git" holds "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(git.read_text().partition("gitdir:")[2].strip())
        if gitdir.parent.name == "worktrees":
            candidates.append(gitdir.parents[2].parent / "shared" / "kuberay" / "crd")
    return candidates


def find_crd_dir(repo: Path = REPO) -> Path | None:
    """The first CRD directory that exists, or None."""
    return next((path for path in crd_dir_candidates(repo) if (path / "ray.io_rayclusters.yaml").is_file()), None)


def load_schemas(crd_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` to the strict JSON Schema of that CRD version."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # 7x faster
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema in which objects with listed properties refuse unknown keys."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: (value if key in ("enum", "default", "example", "required", "properties") else strict(value))
           for key, value in schema.items()}
    if "properties" in out:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


def documents(path: Path) -> Iterator[dict[str, Any]]:
    """The YAML documents of a manifest file."""
    yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def problems(manifest: dict[str, Any], schemas: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Every schema violation of one manifest, as ``path: message`` lines (empty when it is valid)."""
    from jsonschema import Draft7Validator

    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key not in schemas:
        return [f"no CRD for apiVersion {key[0]!r} kind {key[1]!r}; known: {sorted(schemas)}"]
    name = (manifest.get("metadata") or {}).get("name", "")
    found = [] if DNS_1123.match(name) and len(name) <= 63 else [f"metadata.name: {name!r} is not a DNS-1123 label"]
    validator = Draft7Validator(schemas[key])
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(part) for part in error.path) or "(root)"
        found.append(f"{where}: {error.message[:300]}")
    return found


def main(argv: list[str]) -> int:
    crd_dir = Path(argv[0]) if argv else find_crd_dir()
    if crd_dir is None:
        print(f"KubeRay CRDs not found; looked in {[str(p) for p in crd_dir_candidates()]}", file=sys.stderr)
        return 2
    schemas = load_schemas(crd_dir)
    failed = 0
    for name in MANIFESTS:
        for manifest in documents(HERE / name):
            found = problems(manifest, schemas)
            failed += bool(found)
            print(f"{'✗' if found else '✓'} {name}: {manifest.get('kind')} {manifest['metadata'].get('name')}")
            for line in found:
                print(f"    {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
