"""The KubeRay manifests, validated offline against KubeRay's CRDs (JSON Schema) and against what they run:
Serve's own config schema, our builder's args, the image recipe and the lock. No Kubernetes runs here."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.kuberay import KUBE, ROOT, manifests

CRD_DIR = manifests.find_crd_dir()
needs_crds = pytest.mark.skipif(
    CRD_DIR is None, reason=f"KubeRay CRDs absent: expected ../shared/kuberay/crd beside the repository "
                            f"(looked in {[str(p) for p in manifests.crd_dir_candidates()]})")


def manifest(name: str) -> dict[str, Any]:
    (doc,) = manifests.documents(KUBE / name)
    return dict(doc)


def cluster_specs() -> dict[str, dict[str, Any]]:
    return {"raycluster.yaml": manifest("raycluster.yaml")["spec"],
            "rayjob.yaml": manifest("rayjob.yaml")["spec"]["rayClusterSpec"],
            "rayservice.yaml": manifest("rayservice.yaml")["spec"]["rayClusterConfig"]}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    return [container for pod in pods for container in pod["containers"]]


@pytest.fixture(scope="module")
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    assert CRD_DIR is not None
    return dict(manifests.load_schemas(CRD_DIR))


@needs_crds
@pytest.mark.parametrize("name", manifests.MANIFESTS)
def test_every_manifest_validates_against_its_kuberay_crd(name: str, schemas: dict[tuple[str, str], Any]) -> None:
    docs = list(manifests.documents(KUBE / name))
    assert docs
    for doc in docs:
        assert manifests.problems(doc, schemas) == []


@needs_crds
@pytest.mark.parametrize(("mutate", "where"), [
    (lambda m: m["spec"].update(enableInTreeAutoScaling=True), "enableInTreeAutoScaling"),  # misspelt field
    (lambda m: m["spec"]["workerGroupSpecs"][0].update(maxReplicas="five"), "maxReplicas"),  # wrong type
    (lambda m: m["spec"]["authOptions"].update(mode="tokens"), "authOptions.mode"),          # not in the enum
    (lambda m: m["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0].update(imagePullPolicyy="Always"),
     "containers.0"),                                                                        # deep in the pod spec
    (lambda m: m["spec"]["workerGroupSpecs"][0].pop("groupName"), "workerGroupSpecs.0"),      # required field
    (lambda m: m["metadata"].update(name="Armorer_Cluster"), "metadata.name"),
])
def test_the_validation_catches_what_the_api_server_would_refuse(mutate: Any, where: str,
                                                                  schemas: dict[tuple[str, str], Any]) -> None:
    broken = copy.deepcopy(manifest("raycluster.yaml"))
    mutate(broken)
    found = manifests.problems(broken, schemas)
    assert found and any(where in line for line in found), found


@needs_crds
def test_an_unknown_kind_or_version_is_reported(schemas: dict[tuple[str, str], Any]) -> None:
    assert "no CRD" in manifests.problems({"apiVersion": "ray.io/v2", "kind": "RayCluster",
                                           "metadata": {"name": "x"}}, schemas)[0]


def test_the_crds_are_looked_for_beside_the_repository() -> None:
    assert manifests.crd_dir_candidates()[0] == ROOT.parent / "shared" / "kuberay" / "crd"


def serve_config() -> dict[str, Any]:
    return dict(yaml.safe_load(manifest("rayservice.yaml")["spec"]["serveConfigV2"]))


def test_the_rayservice_serve_config_is_valid_for_serve_and_for_our_builder() -> None:
    schema = pytest.importorskip("ray.serve.schema")
    from armorer_ray.serve import ServeOptions
    from armorer_ray.serve.config import AppArgs

    config = schema.ServeDeploySchema.model_validate(serve_config())
    (app,) = config.applications
    assert app.import_path == "armorer_ray.serve.config:build_app"
    args = AppArgs.model_validate(app.args)
    assert args.tokens_file and not args.allow_anonymous
    assert [d.name for d in app.deployments] == [ServeOptions().name]  # Serve refuses overrides of unknown names
    assert app.deployments[0].autoscaling_config["max_replicas"] > app.deployments[0].autoscaling_config["min_replicas"]


def test_the_token_file_is_mounted_on_every_ray_pod_of_the_service() -> None:
    from armorer_ray.serve.config import AppArgs

    tokens_file = Path(AppArgs.model_validate(serve_config()["applications"][0]["args"]).tokens_file or "")
    spec = cluster_specs()["rayservice.yaml"]
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    for pod in pods:  # replicas read the file wherever Serve places them
        secrets = {v["name"] for v in pod["volumes"] if "secret" in v}
        mounts = [m for c in pod["containers"] for m in c["volumeMounts"] if m["name"] in secrets]
        assert any(tokens_file.is_relative_to(m["mountPath"]) for m in mounts), pod["containers"][0]["name"]


@pytest.mark.parametrize("name", manifests.MANIFESTS)
def test_one_image_name_to_change_and_versions_that_agree(name: str) -> None:
    import ray

    spec = cluster_specs()[name]
    images = {c["image"] for c in containers(spec)} | ({spec["autoscalerOptions"]["image"]}
                                                       if "autoscalerOptions" in spec else set())
    assert images == {"armorer-ray:0.1.0"}
    assert spec["rayVersion"] == ray.__version__
    assert spec["authOptions"]["mode"] == "token"
    base = re.search(r"ARG RAY_IMAGE=rayproject/ray:(\S+)", (KUBE / "Dockerfile").read_text())
    assert base and base.group(1).startswith(f"{spec['rayVersion']}-py311")
    lock = (ROOT / "requirements.lock").read_text()
    assert f"\nray=={spec['rayVersion']}\n" in lock
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["name"] == "ray-head"


def test_autoscaling_is_on_for_the_long_lived_clusters() -> None:
    for name in ("raycluster.yaml", "rayservice.yaml"):
        spec = cluster_specs()[name]
        assert spec["enableInTreeAutoscaling"] is True
        assert any(g["maxReplicas"] > g["minReplicas"] for g in spec["workerGroupSpecs"])


def test_the_rayjob_runs_the_demo_shipped_in_the_image() -> None:
    entrypoint = manifest("rayjob.yaml")["spec"]["entrypoint"].split()
    assert entrypoint[0] == "python" and entrypoint[1] == "/app/examples/demo.py"
    assert (ROOT / "examples" / "demo.py").is_file()
    assert "COPY --chown=ray:users examples /app/examples" in (KUBE / "Dockerfile").read_text()


def test_the_image_installs_our_serve_extra_under_the_repository_lock() -> None:
    dockerfile = (KUBE / "Dockerfile").read_text()
    assert "COPY --chown=ray:users requirements.lock /app/requirements.lock" in dockerfile
    assert "--constraint /app/requirements.lock '/app[serve]'" in dockerfile
    assert (ROOT / "requirements.lock").is_file()  # tests/test_lock.py checks it pins every declared requirement


def test_the_lock_pins_what_ray_serve_brings_so_the_image_resolves_nothing_freely() -> None:
    from importlib import metadata

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pinned = {canonicalize_name(line.partition("==")[0]) for line in (ROOT / "requirements.lock").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    serve_extra = [Requirement(line) for line in metadata.requires("ray") or []]
    wanted = {canonicalize_name(r.name) for r in serve_extra
              if r.marker is not None and r.marker.evaluate({**default_environment(), "extra": "serve"})}
    assert wanted, "ray declares no serve extra"
    missing = sorted(wanted - pinned)
    assert not missing, f"requirements.lock lacks ray[serve]'s {missing}: run `make lock`"
