"""The `ha` overlay (three replicas on PostgreSQL) renders with a real kustomize, every object
is valid Kubernetes (offline, strict), and the pieces agree: the replicas get --store from a
Secret, the Service the SDK resolves selects only their ready pods, the disruption budget
keeps two of three, and the network lets the replicas, and only them, reach PostgreSQL.
The CloudNativePG Cluster it documents has no offline schema and is checked by hand."""
from __future__ import annotations

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML not installed; run `bash .ci/install-tools`")

from deploy_tools import DEPLOY, run
from test_k8s import CRDS_WITHOUT_SCHEMA, K8S_VERSION

HA = DEPLOY / "k8s/overlays/ha"
SERVER_LABELS = {"app.kubernetes.io/name": "lrctl", "app.kubernetes.io/component": "server"}


@pytest.fixture(scope="module")
def objects(kustomize_commands) -> list[dict]:
    name, cmd = next(iter(kustomize_commands.items()))
    result = run(cmd + [str(HA)])
    assert result.returncode == 0, f"{name} {HA}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(objects: list[dict], kind: str, name: str) -> dict:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_every_object_matches_the_kubernetes_schemas(objects) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed; run `bash .ci/install-tools`")
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) not in CRDS_WITHOUT_SCHEMA:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_three_replicas_read_the_store_url_from_a_secret(objects) -> None:
    sts = one(objects, "StatefulSet", "lrctl")
    assert sts["spec"]["replicas"] == 3
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["LRCTL_STORE"]["valueFrom"]["secretKeyRef"] == {"name": "lrctl-store", "key": "uri",
                                                                "optional": False}
    assert env["LRCTL_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "lrctl-auth"
    assert "--store" not in container["args"]  # a URL with a password never sits in the pod spec
    from lrctl.server.config import env_name
    assert env_name("store") == "LRCTL_STORE"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"  # one data dir per replica


def test_each_replica_advertises_its_pod_address_for_the_data_plane_jobs_it_holds(objects) -> None:
    from lrctl.server.config import env_name

    container = one(objects, "StatefulSet", "lrctl")["spec"]["template"]["spec"]["containers"][0]
    names = [e["name"] for e in container["env"]]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env[env_name("advertise_address")]["value"] == "$(POD_IP):50051"
    assert names.index("POD_IP") < names.index("LRCTL_ADVERTISE_ADDRESS")  # $(POD_IP) expands only if defined first


def test_the_sdk_resolves_only_ready_replicas(objects) -> None:
    service = one(objects, "Service", "lrctl-replicas")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is False
    assert service["spec"]["selector"] == SERVER_LABELS
    pod_labels = one(objects, "StatefulSet", "lrctl")["spec"]["template"]["metadata"]["labels"]
    assert SERVER_LABELS.items() <= pod_labels.items()
    ports = {p["name"] for p in one(objects, "StatefulSet", "lrctl")["spec"]["template"]["spec"]["containers"][0]
             ["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_a_disruption_keeps_two_of_three(objects) -> None:
    budget = one(objects, "PodDisruptionBudget", "lrctl")["spec"]
    assert budget == {"minAvailable": 2, "selector": {"matchLabels": SERVER_LABELS}}


def test_the_replicas_and_only_they_reach_postgresql(objects) -> None:
    postgres = one(objects, "StatefulSet", "lrctl-postgres")
    pod_labels = postgres["spec"]["template"]["metadata"]["labels"]
    [port] = postgres["spec"]["template"]["spec"]["containers"][0]["ports"]
    service = one(objects, "Service", "lrctl-postgres")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0] == {"name": "postgres", "port": 5432, "targetPort": port["name"]}
    egress = one(objects, "NetworkPolicy", "lrctl-store-egress")["spec"]
    assert egress["podSelector"]["matchLabels"] == SERVER_LABELS
    [rule] = egress["egress"]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert rule["to"][0]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    ingress = one(objects, "NetworkPolicy", "lrctl-postgres")["spec"]
    assert ingress["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert ingress["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == SERVER_LABELS
    env = {e["name"]: e for e in postgres["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "lrctl-postgres"


def test_the_cloudnativepg_cluster_by_hand() -> None:
    """What the missing CRD schema would check, and that it fits the overlay's network policy."""
    cluster = yaml.safe_load((HA / "cloudnativepg-cluster.yaml").read_text())
    assert (cluster["apiVersion"], cluster["kind"]) == ("postgresql.cnpg.io/v1", "Cluster")
    spec = cluster["spec"]
    assert set(spec) <= {"instances", "imageName", "inheritedMetadata", "postgresql", "bootstrap", "storage"}
    assert spec["instances"] == 3 and spec["storage"]["size"].endswith("Gi")
    assert spec["bootstrap"]["initdb"] == {"database": "lrctl", "owner": "lrctl"}
    assert spec["postgresql"]["parameters"]["synchronous_commit"] == "on"
    assert spec["inheritedMetadata"]["labels"] == {"app.kubernetes.io/name": "lrctl-postgres"}
