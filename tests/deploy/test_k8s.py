"""The kustomizations render with a real kustomize and every object is valid Kubernetes.

Schema validation is offline and strict (unknown fields fail) with the schemas bundled in the
`kubernetes-validate` package. The Prometheus Operator's PodMonitor has no schema there; it is
checked by hand below instead. The rest checks what a schema cannot: that the pieces agree.
"""
from __future__ import annotations

import json

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML not installed; run `bash .ci/install-tools`")

from deploy_tools import KUSTOMIZATIONS, run

# Oldest Kubernetes these manifests target (gRPC probes are GA from 1.27).
K8S_VERSION = "1.29.0"
CRDS_WITHOUT_SCHEMA = {("monitoring.coreos.com/v1", "PodMonitor"):
                       "Prometheus Operator CRD; kubernetes-validate bundles only core schemas"}
SERVE_FLAGS = {"--listen", "--metrics-port", "--data-dir", "--config", "--workers",
               "--grace-seconds", "--device"}


@pytest.fixture(scope="module")
def rendered(kustomize_commands) -> dict[str, list[dict]]:
    """overlay -> its objects, rendered with the first kustomize found."""
    name, cmd = next(iter(kustomize_commands.items()))
    print(f"rendering with {name}: {run(cmd[:-1] + ['version']).stdout.strip()}")
    out = {}
    for overlay, path in KUSTOMIZATIONS.items():
        result = run(cmd + [str(path)])
        assert result.returncode == 0, f"{name} {path}: {result.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def _one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def _container(objects: list[dict]) -> dict:
    return _one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]


def test_every_kustomize_renders_the_same(kustomize_commands):
    if len(kustomize_commands) < 2:
        pytest.skip(f"only one kustomize here ({', '.join(kustomize_commands)}); nothing to compare")
    for path in KUSTOMIZATIONS.values():
        outputs = {name: run(cmd + [str(path)]) for name, cmd in kustomize_commands.items()}
        for name, result in outputs.items():
            assert result.returncode == 0, f"{name} {path}: {result.stderr}"
        assert len({r.stdout for r in outputs.values()}) == 1, f"renderings of {path} differ"


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_objects_match_kubernetes_schemas(rendered, overlay):
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed; run `bash .ci/install-tools`")
    kinds = set()
    for obj in rendered[overlay]:
        key = (obj["apiVersion"], obj["kind"])
        if key in CRDS_WITHOUT_SCHEMA:
            print(f"schema check skipped for {key}: {CRDS_WITHOUT_SCHEMA[key]}")
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        kinds.add(obj["kind"])
    assert kinds == {"ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget", "NetworkPolicy"}


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_selectors_select_the_pods(rendered, overlay):
    objects = rendered[overlay]
    sts = _one(objects, "StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "StatefulSet": sts["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget": _one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        "NetworkPolicy": _one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
        "PodMonitor": _one(objects, "PodMonitor")["spec"]["selector"]["matchLabels"],
    }
    selectors.update({f"Service {s['metadata']['name']}": s["spec"]["selector"]
                      for s in objects if s["kind"] == "Service"})
    for what, selector in selectors.items():
        assert selector, f"{what} selects every pod in the namespace"
        assert selector.items() <= pod_labels.items(), f"{what} does not select the lrctl pods"
    assert sts["spec"]["serviceName"] == _one(objects, "Service", "lrctl-headless")["metadata"]["name"]
    assert _one(objects, "Service", "lrctl-headless")["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_ports_probes_and_scraping_agree(rendered, overlay):
    objects = rendered[overlay]
    container = _container(objects)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == ports["grpc"], probe
    for endpoint in _one(objects, "PodMonitor")["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    for service in (o for o in objects if o["kind"] == "Service"):
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{service['metadata']['name']}: {port}"
    for rule in _one(objects, "NetworkPolicy")["spec"]["ingress"]:
        for port in rule["ports"]:
            assert port["port"] in ports, port
    config = json.loads(_one(objects, "ConfigMap")["data"]["server.json"])
    assert config["metricsPort"] == ports["metrics"]
    assert config["listen"].rsplit(":", 1) == ["0.0.0.0", str(ports["grpc"])]


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_config_is_a_server_config_and_args_are_serve_flags(rendered, overlay):
    objects = rendered[overlay]
    from google.protobuf import json_format

    from lrctl.v1 import server_config_pb2

    configmap = _one(objects, "ConfigMap")
    config = json_format.Parse(configmap["data"]["server.json"], server_config_pb2.ServerConfig())
    container = _container(objects)
    args = container["args"]
    assert set(a for a in args if a.startswith("--")) <= SERVE_FLAGS, args
    config_path = args[args.index("--config") + 1]
    mount = next(m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in _one(objects, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert config.data_dir == next(m["mountPath"] for m in container["volumeMounts"]
                                   if m["name"] == "data")
    grace = _one(objects, "StatefulSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > config.grace_seconds, "the kubelet would kill the server mid-shutdown"


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_admin_token_is_required_tls_optional_and_pod_runs_locked_down(rendered, overlay):
    """The server listens on 0.0.0.0 only with credentials, so the admin token secret must
    exist; the TLS secret is mounted when present."""
    sts = _one(rendered[overlay], "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]}}
    assert pod["automountServiceAccountToken"] is False
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                   if "secretKeyRef" in e.get("valueFrom", {})}
    assert secret_refs["LRCTL_ADMIN_TOKEN"]["name"] == "lrctl-auth"
    assert secret_refs["LRCTL_ADMIN_TOKEN"].get("optional", False) is False
    secret_volumes = {v["secret"]["secretName"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    assert secret_volumes["lrctl-tls"]["optional"] is True
    assert {"requests", "limits"} <= container["resources"].keys()
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"


def test_gpu_overlay_asks_for_a_gpu_and_the_cuda_backend(rendered):
    base, gpu = _container(rendered["base"]), _container(rendered["gpu"])
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in base["resources"]["limits"]
    assert gpu["args"][-2:] == ["--device", "cuda"] and "--device" not in base["args"]
    assert gpu["image"] != base["image"] and "cuda" in gpu["image"]


def test_podmonitor_by_hand(rendered):
    """What the missing PodMonitor schema would check: the fields the operator reads."""
    monitor = _one(rendered["base"], "PodMonitor")
    assert set(monitor["spec"]) == {"selector", "podMetricsEndpoints"}
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["interval"].endswith("s")
