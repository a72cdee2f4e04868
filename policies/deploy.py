"""Render deployments from a policy: vLLM launch commands, docker-compose, Kubernetes manifests.

Everything a deployment must agree on with the policy (the model vLLM loads and the name it
serves, speculative decoding, GPUs per replica, replica addresses the gateway balances over,
which secrets the tiers read) is taken from the policy here, so the manifests cannot drift from
it: `switchyard deploy render` regenerates `deploy/`, and a test checks it is current.

vLLM replicas are rendered one addressable pod (StatefulSet + headless Service) or one compose
service each, not a Deployment behind one Service: prefix affinity needs the gateway to pick the
replica, and a Service's load balancing would scatter a shared prefix over every replica's cache.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from policies.loader import load_policy_text
from policies.schema import Policy, Tier

GATEWAY_PORT = 8000
LLAMA_PORT = 8080
LABEL = "app.kubernetes.io/name"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class DeployOptions:
    namespace: str = "switchyard"
    gateway_image: str = "switchyard:0.1.0"
    gateway_replicas: int = 2
    hpa_max_replicas: int = 10
    hpa_cpu_percent: int = 70
    policy_path: str = "/etc/switchyard/policy.yaml"
    llama_image: str = "ghcr.io/ggml-org/llama.cpp:server"
    llama_gguf: str = "/models/model.gguf"
    llama_url_env: str = "SWITCHYARD_LLAMA_URL"
    postgres_image: str = "postgres:16-alpine"
    redis_image: str = "redis:7-alpine"


@dataclass
class Rendered:
    files: dict[str, str]
    notes: list[str] = field(default_factory=list)


def dns_name(tier: str) -> str:
    return "vllm-" + re.sub(r"[^a-z0-9-]+", "-", tier.lower()).strip("-")


def vllm_tiers(policy: Policy) -> dict[str, Tier]:
    return {name: tier for name, tier in policy.tiers.items() if tier.engine == "vllm" and tier.vllm is not None}


def vllm_launch_args(tier: Tier, host: str = "0.0.0.0") -> list[str]:
    """`vllm serve ...` for one replica of the tier."""
    assert tier.vllm is not None
    launch = tier.vllm.launch
    served = tier.upstream_model or tier.model
    args = [
        "vllm", "serve", launch.model or served,
        "--host", host,
        "--port", str(launch.port),
        # The gateway sends `upstream_model` (or `model`); vLLM must answer to that name.
        "--served-model-name", served,
        "--tensor-parallel-size", str(launch.tensor_parallel_size),
        "--max-model-len", str(launch.max_model_len or tier.context_window),
        "--gpu-memory-utilization", f"{launch.gpu_memory_utilization:g}",
        "--enable-prefix-caching" if launch.prefix_caching else "--no-enable-prefix-caching",
    ]  # fmt: skip
    if launch.speculative is not None:
        args += ["--speculative-config", json.dumps(launch.speculative.as_vllm(), separators=(",", ":"))]
    return args + list(launch.extra_args)


def _command_lines(args: list[str]) -> str:
    """`args` as a shell command, one option and its value per line."""
    lines: list[str] = []
    for arg in args:
        quoted = shlex.quote(arg)
        if lines and lines[-1].startswith("--") and " " not in lines[-1] and not arg.startswith("--"):
            lines[-1] += " " + quoted
        elif arg.startswith("--") or not lines:
            lines.append(quoted)
        else:
            lines[-1] += " " + quoted
    return " \\\n  ".join(lines)


def launch_script(name: str, tier: Tier) -> str:
    command = _command_lines(vllm_launch_args(tier))
    key = f"VLLM_API_KEY=\"${{{tier.api_key_env}}}\" " if tier.api_key_env else ""
    return f"#!/usr/bin/env bash\n# vLLM replica for tier {name!r}; rendered from the policy.\nset -euo pipefail\n{key}exec {command}\n"


def replica_urls_k8s(name: str, tier: Tier, options: DeployOptions) -> list[str]:
    assert tier.vllm is not None
    svc = dns_name(name)
    port = tier.vllm.launch.port
    return [f"http://{svc}-{i}.{svc}.{options.namespace}.svc.cluster.local:{port}" for i in range(tier.vllm.launch.deploy_replicas)]


def replica_urls_compose(name: str, tier: Tier) -> list[str]:
    assert tier.vllm is not None
    return [f"http://{dns_name(name)}-{i}:{tier.vllm.launch.port}" for i in range(tier.vllm.launch.deploy_replicas)]


def _replica_vars(raw: dict[str, Any], name: str) -> list[str]:
    """The environment variables the policy reads a tier's replica list from (`${VAR}`)."""
    value = ((raw.get("tiers") or {}).get(name) or {}).get("vllm", {}).get("replicas")
    texts = [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    return list(dict.fromkeys(m for text in texts for m in _VAR.findall(text)))


def secret_names(policy: Policy) -> list[str]:
    names = ["SWITCHYARD_DATABASE_URL", "SWITCHYARD_REDIS_URL"]
    for tier in policy.tiers.values():
        key = tier.key_variable()
        if key:
            names.append(key)
        settings = getattr(tier, "vllm", None)  # only vLLM tiers have a cache salt
        if settings is not None and settings.cache_salt.secret_env:
            names.append(settings.cache_salt.secret_env)
    return list(dict.fromkeys(names))


def _wiring(policy: Policy, raw: dict[str, Any], urls: dict[str, list[str]], notes: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in vllm_tiers(policy):
        variables = _replica_vars(raw, name)
        if not variables:
            notes.append(f"tier {name!r} lists literal replica URLs; the rendered vLLM replicas are not wired to the gateway")
        for var in variables:
            env[var] = ",".join(urls[name])
    return env


def _labels(component: str, tier: str | None = None) -> dict[str, str]:
    labels = {LABEL: component, "app.kubernetes.io/part-of": "switchyard"}
    if tier is not None:
        labels["switchyard.dev/tier"] = tier
    return labels


def _http_probe(path: str, port: int, period: int, failures: int, delay: int = 0) -> dict[str, Any]:
    probe: dict[str, Any] = {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures}
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def k8s_vllm(name: str, tier: Tier, options: DeployOptions) -> list[dict[str, Any]]:
    """Headless Service + StatefulSet: one stable DNS name per replica for the gateway to balance over."""
    assert tier.vllm is not None
    launch = tier.vllm.launch
    svc = dns_name(name)
    labels = _labels("vllm", name)
    args = vllm_launch_args(tier)
    env: list[dict[str, Any]] = [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "switchyard-secrets", "key": "HF_TOKEN", "optional": True}}}
    ]
    if tier.api_key_env:
        env.append(
            {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "switchyard-secrets", "key": tier.api_key_env}}}
        )
    container = {
        "name": "vllm",
        "image": launch.image,
        "command": args[:2],
        "args": args[2:],
        "ports": [{"name": "http", "containerPort": launch.port}],
        "env": env,
        "resources": {
            "limits": {"nvidia.com/gpu": str(launch.tensor_parallel_size)},
            "requests": {"nvidia.com/gpu": str(launch.tensor_parallel_size), "cpu": "4", "memory": "32Gi"},
        },
        # Loading weights and capturing CUDA graphs takes minutes; liveness waits for startup.
        "startupProbe": _http_probe("/health", launch.port, period=10, failures=90),
        "readinessProbe": _http_probe("/health", launch.port, period=5, failures=3),
        "livenessProbe": _http_probe("/health", launch.port, period=15, failures=4),
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "hf-cache", "mountPath": "/root/.cache/huggingface"}],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc, "namespace": options.namespace, "labels": labels},
        "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "http", "port": launch.port, "targetPort": launch.port}]},
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": svc, "namespace": options.namespace, "labels": labels},
        "spec": {
            "serviceName": svc,
            "replicas": launch.deploy_replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [container],
                    "volumes": [
                        # Tensor parallelism shares tensors through /dev/shm; the default 64 MiB is too small.
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
                        {"name": "hf-cache", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    return [service, statefulset]


def k8s_gateway(policy: Policy, policy_text: str, env: dict[str, str], options: DeployOptions) -> list[dict[str, Any]]:
    labels = _labels("switchyard-gateway")
    ns = options.namespace
    secrets = secret_names(policy)
    container_env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    container_env += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": "switchyard-secrets", "key": k, "optional": True}}} for k in secrets
    ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "switchyard-gateway", "namespace": ns, "labels": labels},
        "spec": {
            "replicas": options.gateway_replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "gateway",
                            "image": options.gateway_image,
                            "command": ["switchyard"],
                            "args": ["serve", "--policy", options.policy_path, "--host", "0.0.0.0", "--port", str(GATEWAY_PORT)],
                            "ports": [{"name": "http", "containerPort": GATEWAY_PORT}],
                            "env": container_env,
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                            "livenessProbe": _http_probe("/healthz", GATEWAY_PORT, period=10, failures=3, delay=5),
                            "readinessProbe": _http_probe("/readyz", GATEWAY_PORT, period=5, failures=2, delay=5),
                            "volumeMounts": [{"name": "policy", "mountPath": "/etc/switchyard", "readOnly": True}],
                        }
                    ],
                    "volumes": [{"name": "policy", "configMap": {"name": "switchyard-policy"}}],
                },
            },
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "switchyard-policy", "namespace": ns, "labels": labels},
            "data": {options.policy_path.rsplit("/", 1)[-1]: policy_text},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "switchyard-secrets", "namespace": ns, "labels": labels},
            "type": "Opaque",
            # Placeholders: fill them in (or create the Secret out of band) before applying.
            "stringData": {k: "" for k in [*secrets, "HF_TOKEN"]},
        },
        deployment,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "switchyard-gateway", "namespace": ns, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": GATEWAY_PORT}]},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "switchyard-gateway", "namespace": ns, "labels": labels},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "switchyard-gateway"},
                "minReplicas": options.gateway_replicas,
                "maxReplicas": max(options.hpa_max_replicas, options.gateway_replicas),
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": options.hpa_cpu_percent}},
                    }
                ],
            },
        },
    ]


def _python_probe(url: str) -> dict[str, Any]:
    # Images without curl still have Python (the gateway's, vLLM's).
    return {
        "test": ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)"],
        "interval": "10s",
        "timeout": "5s",
        "retries": 3,
    }


def compose(policy: Policy, env: dict[str, str], options: DeployOptions) -> dict[str, Any]:
    gateway_env = {
        "SWITCHYARD_DATABASE_URL": "postgresql+psycopg://switchyard:switchyard@postgres:5432/switchyard",
        "SWITCHYARD_REDIS_URL": "redis://redis:6379/0",
        options.llama_url_env: f"http://llama-server:{LLAMA_PORT}/v1",
        **env,
    }
    for name in secret_names(policy):
        gateway_env.setdefault(name, f"${{{name}:-}}")
    services: dict[str, Any] = {
        "gateway": {
            "build": {"context": "..", "dockerfile": "deploy/Dockerfile"},
            "image": options.gateway_image,
            "command": ["serve", "--policy", options.policy_path, "--host", "0.0.0.0", "--port", str(GATEWAY_PORT)],
            "environment": dict(sorted(gateway_env.items())),
            "volumes": [f"./policy.yaml:{options.policy_path}:ro"],
            "ports": [f"{GATEWAY_PORT}-{GATEWAY_PORT + options.gateway_replicas - 1}:{GATEWAY_PORT}"],
            "deploy": {"replicas": options.gateway_replicas},
            "healthcheck": _python_probe(f"http://127.0.0.1:{GATEWAY_PORT}/healthz"),
            "depends_on": {"redis": {"condition": "service_healthy"}, "postgres": {"condition": "service_healthy"}},
        },
        "redis": {
            "image": options.redis_image,
            "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "5s", "timeout": "3s", "retries": 5},
        },
        "postgres": {
            "image": options.postgres_image,
            "environment": {"POSTGRES_USER": "switchyard", "POSTGRES_PASSWORD": "switchyard", "POSTGRES_DB": "switchyard"},
            "volumes": ["pgdata:/var/lib/postgresql/data"],
            "healthcheck": {"test": ["CMD", "pg_isready", "-U", "switchyard"], "interval": "5s", "timeout": "3s", "retries": 5},
        },
        "llama-server": {
            "image": options.llama_image,
            "command": ["-m", options.llama_gguf, "--host", "0.0.0.0", "--port", str(LLAMA_PORT), "--threads", "4"],
            "volumes": ["./models:/models:ro"],
        },
    }
    gpu = 0
    for name, tier in vllm_tiers(policy).items():
        assert tier.vllm is not None
        launch = tier.vllm.launch
        args = vllm_launch_args(tier)
        vllm_env = {"HF_TOKEN": "${HF_TOKEN:-}"}
        if tier.api_key_env:
            vllm_env["VLLM_API_KEY"] = f"${{{tier.api_key_env}:-}}"
        for i in range(launch.deploy_replicas):
            # Each replica gets its own GPUs: `count` alone would hand every container GPU 0.
            devices = [str(d) for d in range(gpu, gpu + launch.tensor_parallel_size)]
            gpu += launch.tensor_parallel_size
            services[f"{dns_name(name)}-{i}"] = {
                "image": launch.image,
                "entrypoint": args[:2],
                "command": args[2:],
                "environment": vllm_env,
                "ipc": "host",
                "volumes": ["hf-cache:/root/.cache/huggingface"],
                "deploy": {
                    "resources": {"reservations": {"devices": [{"driver": "nvidia", "device_ids": devices, "capabilities": ["gpu"]}]}}
                },
                "healthcheck": {**_python_probe(f"http://127.0.0.1:{launch.port}/health"), "start_period": "600s"},
            }
    return {"name": "switchyard", "services": services, "volumes": {"pgdata": {}, "hf-cache": {}}}


class _PlainDumper(yaml.SafeDumper):
    # Shared label dicts would otherwise come out as &id001 anchors, which people reading manifests trip over.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(docs: list[dict[str, Any]], header: str) -> str:
    return header + yaml.dump_all(docs, Dumper=_PlainDumper, sort_keys=False, width=140)


def render(policy_text: str, source: str, options: DeployOptions | None = None) -> Rendered:
    """All deployment files for a policy, by path relative to the output folder."""
    options = options or DeployOptions()
    policy = load_policy_text(policy_text, source)
    raw = yaml.safe_load(policy_text)
    notes: list[str] = []
    header = f"# Generated by `switchyard deploy render --policy {source}`; edit the policy, not this file.\n"
    k8s_urls = {name: replica_urls_k8s(name, tier, options) for name, tier in vllm_tiers(policy).items()}
    compose_urls = {name: replica_urls_compose(name, tier) for name, tier in vllm_tiers(policy).items()}
    k8s_env = _wiring(policy, raw, k8s_urls, notes)
    compose_env = _wiring(policy, raw, compose_urls, [])
    docs = k8s_gateway(policy, policy_text, k8s_env, options)
    for name, tier in vllm_tiers(policy).items():
        docs += k8s_vllm(name, tier, options)
    files = {
        "policy.yaml": policy_text,
        "compose.yaml": _dump([compose(policy, compose_env, options)], header),
        "k8s/switchyard.yaml": _dump(docs, header),
    }
    for name, tier in vllm_tiers(policy).items():
        files[f"vllm/{name}.sh"] = launch_script(name, tier)
    return Rendered(files, notes)


def render_vllm_tier(policy_text: str, source: str, tier_name: str, options: DeployOptions | None = None) -> Rendered:
    """One vLLM tier: its launch script and its Kubernetes Service + StatefulSet."""
    options = options or DeployOptions()
    policy = load_policy_text(policy_text, source)
    tiers = vllm_tiers(policy)
    if tier_name not in tiers:
        raise KeyError(f"no vllm tier {tier_name!r} in {source}; vllm tiers are {sorted(tiers)}")
    tier = tiers[tier_name]
    header = f"# Generated by `switchyard deploy vllm --policy {source} --tier {tier_name}`.\n"
    files = {
        f"{tier_name}.sh": launch_script(tier_name, tier),
        f"{tier_name}.k8s.yaml": _dump(k8s_vllm(tier_name, tier, options), header),
    }
    return Rendered(files)
