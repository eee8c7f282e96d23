"""deploy/k8s/: every manifest is valid Kubernetes (kubernetes-validate, strict: with the
API schemas it ships, so offline, and an unknown or misspelled field fails), and what must
agree does: the probes with mitmllm's endpoints, the grace period with the drain, the
command with the config mount, the key variables with the configured providers (read the
way mitmllm reads them), the user with deploy/Dockerfile, and no secret outside a Secret.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.null
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from mitmllm.addons.drain import DRAIN_SECONDS
from mitmllm.config.model import ListenConfig
from mitmllm.config.schema import parse_config
from mitmllm.config.secrets import Secrets

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
# The oldest Kubernetes these manifests are written for, and the newest the validator has.
VERSIONS = ("1.30", latest_version())

Doc = dict[str, Any]


def documents() -> list[Doc]:
    docs = [doc for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs
    return docs


def only(kind: str, name: str | None = None) -> Doc:
    found = [d for d in documents() if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def container() -> Doc:
    containers = only("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def pod() -> Doc:
    return dict(only("Deployment")["spec"]["template"]["spec"])


def config_map() -> tuple[Doc, str]:
    """The ConfigMap holding config.yaml, and the file's text."""
    holders = [d for d in documents() if d["kind"] == "ConfigMap"
               and "config.yaml" in d.get("data", {})]
    assert len(holders) == 1
    return holders[0], holders[0]["data"]["config.yaml"]


def environment() -> dict[str, str]:
    """The container's variables from its Secret (envFrom)."""
    (source,) = container()["envFrom"]
    secret = only("Secret", source["secretRef"]["name"])
    return dict(secret["stringData"])


@pytest.fixture
def null_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())  # a container has no keychain
    yield
    keyring.set_keyring(before)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    kinds = set()
    for doc in documents():
        kinds.add(doc["kind"])
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {where}: {exc.message}")
        # SchemaNotFoundError (a kind the validator does not know) fails the test too.
    assert kinds == {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"}


def test_the_validator_catches_a_misspelled_field() -> None:
    broken = copy.deepcopy(only("Deployment"))
    spec = broken["spec"]["template"]["spec"]["containers"][0]
    spec["livenesProbe"] = spec.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_probes_ask_mitmllm_health_and_readiness_on_its_port() -> None:
    spec = container()
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert ports == {"http": ListenConfig().port}
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready"),
                        ("startupProbe", "/health")):
        assert spec[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    service = only("Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    labels = only("Deployment")["spec"]["template"]["metadata"]["labels"]
    for selector in (service["spec"]["selector"],
                     only("Deployment")["spec"]["selector"]["matchLabels"],
                     only("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()


def test_a_stopping_pod_has_time_to_leave_the_service_and_drain() -> None:
    deployment = only("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pre_stop = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    sleep = float(pre_stop[1])
    assert sleep >= 5  # endpoint removal reaches every node's kube-proxy in a few seconds
    # The preStop sleep counts against the grace period; then the drain needs its time.
    assert pod()["terminationGracePeriodSeconds"] > sleep + DRAIN_SECONDS


def test_the_container_runs_mitmllm_on_all_interfaces_with_the_mounted_config() -> None:
    spec = container()
    command = spec["command"]
    assert command == ["mitmllm", "run", "--host", "0.0.0.0", "--config",
                       "/etc/mitmllm/config.yaml"]
    config_dir, config_name = command[-1].rsplit("/", 1)
    mounts = {m["name"]: m for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in pod()["volumes"]}
    (name,) = [n for n, m in mounts.items() if m["mountPath"] == config_dir]
    assert mounts[name]["readOnly"] is True
    config, _ = config_map()
    assert volumes[name]["configMap"]["name"] == config["metadata"]["name"]
    assert config_name == "config.yaml"


def test_the_config_has_a_token_and_every_provider_a_key_variable(null_keyring: None) -> None:
    _, text = config_map()
    environ = environment()
    assert not ListenConfig(host="0.0.0.0").is_loopback  # so the token is required
    # mitmllm's own parser, with the container's environment: the file would load, token
    # and all (and without the environment it would not: the token is only there)
    config = parse_config(yaml.safe_load(text), environ=environ)
    assert config.listen.token == environ["MITMLLM_LISTEN_TOKEN"]
    assert parse_config(yaml.safe_load(text), environ={}).listen.token is None
    secrets = Secrets(environ=environ)
    assert config.providers
    for provider in config.providers:
        if provider.auth == "api_key":
            source = secrets.api_key(provider)
            assert source is not None and source.origin in environ, provider.name
        for header in provider.secret_headers:
            assert secrets.header(provider, header) is not None, (provider.name, header)


def test_no_secret_outside_a_secret() -> None:
    values = {v for d in documents() if d["kind"] == "Secret"
              for v in d.get("stringData", {}).values()}
    assert environment()["MITMLLM_LISTEN_TOKEN"] in values
    for doc in documents():
        if doc["kind"] == "Secret":
            continue
        dumped = yaml.safe_dump(doc)
        for value in values:
            assert value not in dumped, (doc["kind"], doc["metadata"]["name"])
        if doc["kind"] == "ConfigMap":
            # no setting that holds a secret: a token, a key, a header value
            for text in doc["data"].values():
                assert not re.search(r"(?im)^\s*(token|api_?key|headers)\s*:", text), \
                    doc["metadata"]


def test_the_pod_runs_as_the_image_user_with_a_read_only_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    (home,) = re.findall(r"\bHOME=(\S+)", dockerfile)
    security = pod()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (str(security["runAsUser"]), str(security["runAsGroup"])) == user
    spec = container()
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # mitmproxy writes ~/.mitmproxy at start: HOME must be a writable volume.
    volumes = {v["name"]: v for v in pod()["volumes"]}
    (home_mount,) = [m for m in spec["volumeMounts"] if m["mountPath"] == home]
    assert "emptyDir" in volumes[home_mount["name"]]
    # A Service named mitmllm would put MITMLLM_* variables into the pod.
    assert pod()["enableServiceLinks"] is False
