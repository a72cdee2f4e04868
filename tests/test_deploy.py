"""Deployments rendered from a policy: schema-valid, consistent with the policy, and `deploy/` current.

Kubernetes objects are checked against the Kubernetes OpenAPI-derived JSON schemas shipped by the
`kubernetes-validate` package (strict: unknown fields fail); the compose file against the
compose-spec JSON schema vendored by `check-jsonschema`.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from policies.deploy import DeployOptions, render, render_vllm_tier
from router.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "policies/examples/vllm-tier.yaml"
K8S_VERSION = "1.37.0"


def example_text() -> str:
    return (ROOT / EXAMPLE).read_text(encoding="utf-8")


def compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(document)]


def k8s_docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def test_deploy_folder_is_rendered_from_the_example_policy() -> None:
    rendered = render(example_text(), EXAMPLE)
    assert rendered.notes == []
    for name, text in rendered.files.items():
        path = ROOT / "deploy" / name
        assert path.is_file(), f"{path} missing: run `switchyard deploy render --policy {EXAMPLE} --out deploy`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `switchyard deploy render --policy {EXAMPLE} --out deploy`"


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    rendered = render(example_text(), EXAMPLE)
    docs = k8s_docs(rendered.files["k8s/switchyard.yaml"])
    assert sorted(d["kind"] for d in docs) == sorted(
        ["ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "Service", "StatefulSet"]
    )
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # The validator is a real check: a misspelt field in the same objects fails it.
    broken = json.loads(json.dumps(by_kind(docs)["Deployment"][0]))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = json.loads(json.dumps(by_kind(docs)["StatefulSet"][0]))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_compose_validates_against_the_compose_spec() -> None:
    document = yaml.safe_load(render(example_text(), EXAMPLE).files["compose.yaml"])
    assert compose_errors(document) == []
    assert {"gateway", "redis", "postgres", "llama-server", "vllm-self-hosted-0", "vllm-self-hosted-1"} <= set(document["services"])
    document["services"]["gateway"]["deploy"]["replica"] = 2
    assert any("replica" in error for error in compose_errors(document))


def test_manifests_agree_with_the_policy() -> None:
    from policies import load_policy_text

    text = example_text()
    policy = load_policy_text(text)
    tier = policy.tiers["self_hosted"]
    assert tier.vllm is not None
    kinds = by_kind(k8s_docs(render(text, EXAMPLE).files["k8s/switchyard.yaml"]))
    assert kinds["ConfigMap"][0]["data"]["policy.yaml"] == text
    assert {"OPENAI_API_KEY", "SWITCHYARD_CACHE_SALT_SECRET", "SWITCHYARD_DATABASE_URL"} <= set(kinds["Secret"][0]["stringData"])

    gateway = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    assert hpa["scaleTargetRef"]["name"] == kinds["Deployment"][0]["metadata"]["name"]

    # The gateway balances over exactly the StatefulSet's pods, at their stable DNS names.
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    sts = kinds["StatefulSet"][0]
    headless = next(s for s in kinds["Service"] if s["spec"].get("clusterIP") == "None")
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    name, ns, port = sts["metadata"]["name"], sts["metadata"]["namespace"], tier.vllm.launch.port
    expected = [f"http://{name}-{i}.{headless['metadata']['name']}.{ns}.svc.cluster.local:{port}" for i in range(sts["spec"]["replicas"])]
    assert env["SWITCHYARD_VLLM_REPLICAS"].split(",") == expected
    assert sts["spec"]["replicas"] == tier.vllm.launch.deploy_replicas

    vllm = sts["spec"]["template"]["spec"]["containers"][0]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == str(tier.vllm.launch.tensor_parallel_size)
    args = vllm["command"] + vllm["args"]
    assert json.loads(args[args.index("--speculative-config") + 1]) == tier.vllm.launch.speculative.as_vllm()
    assert "--enable-prefix-caching" in args
    assert args[args.index("--served-model-name") + 1] == tier.upstream_model
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"


TP_POLICY = """
version: 1
tiers:
  big_gpu:
    engine: vllm
    model: llama-70b
    upstream_model: meta-llama/Llama-3.1-70B-Instruct
    api_key_env: SWITCHYARD_VLLM_KEY
    vllm:
      replicas: [http://static-host:8000]
      launch:
        tensor_parallel_size: 2
        deploy_replicas: 3
        speculative: {method: eagle3, model: yuhuili/EAGLE3-LLaMA3.1-Instruct-70B, num_speculative_tokens: 3}
      pricing: {gpu_hourly_usd: 2.0, tokens_per_s: 900}
"""


def test_multi_gpu_replicas_get_their_own_gpus_and_literal_urls_are_reported() -> None:
    rendered = render(TP_POLICY, "tp.yaml", DeployOptions(namespace="llm"))
    assert any("literal replica URLs" in note for note in rendered.notes)
    document = yaml.safe_load(rendered.files["compose.yaml"])
    assert compose_errors(document) == []
    devices = [
        document["services"][f"vllm-big-gpu-{i}"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] for i in range(3)
    ]
    assert devices == [["0", "1"], ["2", "3"], ["4", "5"]]
    assert document["services"]["vllm-big-gpu-0"]["environment"]["VLLM_API_KEY"] == "${SWITCHYARD_VLLM_KEY:-}"
    docs = k8s_docs(rendered.files["k8s/switchyard.yaml"])
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    sts = by_kind(docs)["StatefulSet"][0]
    assert sts["metadata"]["namespace"] == "llm" and sts["spec"]["replicas"] == 3
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    key_ref = {"secretKeyRef": {"name": "switchyard-secrets", "key": "SWITCHYARD_VLLM_KEY"}}
    assert {"name": "VLLM_API_KEY", "valueFrom": key_ref} in container["env"]
    single = render_vllm_tier(TP_POLICY, "tp.yaml", "big_gpu")
    assert "--speculative-config '{\"method\":\"eagle3\"" in single.files["big_gpu.sh"]
    for doc in k8s_docs(single.files["big_gpu.k8s.yaml"]):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_cli_deploy_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the rendered header names the policy by the path it was given
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "vllm", "--policy", str(ROOT / EXAMPLE), "--tier", "self_hosted"])
    assert result.exit_code == 0, result.output
    assert "exec vllm serve Qwen/Qwen2.5-7B-Instruct" in result.output and "kind: StatefulSet" in result.output
    result = runner.invoke(app, ["deploy", "vllm", "--policy", str(ROOT / EXAMPLE), "--tier", "self_hosted", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "self_hosted.sh").read_text().startswith("#!/usr/bin/env bash")
    assert (tmp_path / "self_hosted.k8s.yaml").is_file()
    result = runner.invoke(app, ["deploy", "vllm", "--policy", str(ROOT / EXAMPLE), "--tier", "frontier"])
    assert result.exit_code == 2 and "no vllm tier 'frontier'" in result.output

    out = tmp_path / "rendered"
    result = runner.invoke(app, ["deploy", "render", "--policy", EXAMPLE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deploy", "render", "--policy", EXAMPLE, "--out", str(out), "--check"])
    assert result.exit_code == 0, result.output
    (out / "compose.yaml").write_text("stale\n")
    result = runner.invoke(app, ["deploy", "render", "--policy", EXAMPLE, "--out", str(out), "--check"])
    assert result.exit_code == 1 and "out of date" in result.output
