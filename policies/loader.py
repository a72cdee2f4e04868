"""Load a policy from YAML, with every problem reported at its line and column.

`${VAR}` and `${VAR:-default}` in string values are replaced from the environment before
validation, so URLs and model names can come from deployment settings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.schema import Policy

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_POLICY = Path(__file__).with_name("default.yaml")


@dataclass(frozen=True)
class Issue:
    path: tuple[str | int, ...]
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "(top level)"
        at = f"line {self.line}, column {self.column}: " if self.line is not None else ""
        return f"{at}{where}: {self.message}"


class PolicyError(ValueError):
    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{source}: {len(issues)} problem(s)\n{lines}")


def _interpolate(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


def _locate(root: yaml.Node | None, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
    """Line and column (1-based) of the deepest node along `path` that exists in the YAML."""
    node = root
    best = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (None, None)
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            best = (key.start_mark.line + 1, key.start_mark.column + 1)
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            best = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            break
    return best


def _cross_checks(policy: Policy) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    tiers = set(policy.tiers)
    for name, tier in policy.tiers.items():
        if tier.engine == "llamacpp" and not tier.model_path:
            problems.append((("tiers", name, "engine"), "a llamacpp tier needs model_path (a GGUF file or a package)"))
        if tier.engine == "openai" and tier.base_url is None:
            problems.append((("tiers", name, "engine"), "an openai tier needs base_url (it may be ${VAR})"))
        if tier.engine == "litellm" and not tier.litellm_model:
            problems.append((("tiers", name, "engine"), "a litellm tier needs litellm_model, e.g. openai/gpt-4o"))
        if tier.engine == "vllm" and (tier.vllm is None or tier.vllm.replicas is None):
            problems.append((("tiers", name, "vllm"), "a vllm tier needs vllm.replicas (a list of URLs, or ${VAR} with url1,url2)"))
        for i, url in enumerate((tier.vllm.replicas or []) if tier.vllm else []):
            if not re.match(r"^https?://", url):
                problems.append((("tiers", name, "vllm", "replicas", i), f"{url!r} is not an http(s) URL"))
        if tier.vllm is not None and tier.vllm.pricing is not None and "prices" in tier.model_fields_set:
            problems.append((("tiers", name, "prices"), "give prices or vllm.pricing (GPU-hour pricing), not both"))
        if tier.base_url and not re.match(r"^https?://", tier.base_url):
            problems.append((("tiers", name, "base_url"), f"{tier.base_url!r} is not an http(s) URL"))
    seen: dict[str, str] = {}
    for name, tier in policy.tiers.items():
        for label in [tier.model, *tier.aliases]:
            if label in seen and seen[label] != name:
                problems.append((("tiers", name, "model"), f"model name {label!r} is also used by tier {seen[label]!r}"))
            seen.setdefault(label, name)
        if name == "auto" or tier.model == "auto":
            problems.append((("tiers", name), "'auto' is reserved for routed requests"))
    # /v1/models lists the embedding model beside the chat tiers: one name must mean one model.
    for label in [policy.embeddings.model, *policy.embeddings.aliases]:
        if label in seen or label in tiers or label == "auto":
            where = ("embeddings", "model") if label == policy.embeddings.model else ("embeddings", "aliases")
            problems.append((where, f"model name {label!r} is also a chat tier's name or model, or 'auto'"))
    routing = policy.routing
    if routing.quality_target is not None and routing.thresholds is not None:
        problems.append((("routing", "thresholds"), "give quality_target or thresholds, not both"))
    for tier in routing.thresholds or {}:
        if tier not in tiers:
            problems.append((("routing", "thresholds", tier), f"unknown tier {tier!r}; tiers are {sorted(tiers)}"))
    if routing.cascade is not None:
        for i, name in enumerate(routing.cascade.tiers):
            if name not in tiers:
                problems.append((("routing", "cascade", "tiers", i), f"unknown tier {name!r}; tiers are {sorted(tiers)}"))
        if len(set(routing.cascade.tiers)) != len(routing.cascade.tiers):
            problems.append((("routing", "cascade", "tiers"), "a tier appears twice in the cascade"))
    for source, targets in policy.fallbacks.items():
        if source not in tiers:
            problems.append((("fallbacks", source), f"unknown tier {source!r}; tiers are {sorted(tiers)}"))
        for i, target in enumerate(targets):
            if target not in tiers:
                problems.append((("fallbacks", source, i), f"unknown tier {target!r}; tiers are {sorted(tiers)}"))
            elif target == source:
                problems.append((("fallbacks", source, i), "a tier cannot fall back to itself"))
    return problems


def load_policy_text(text: str, source: str = "<policy>") -> Policy:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(source, [Issue((), f"invalid YAML: {problem}", line, column)]) from exc
    if not isinstance(data, dict):
        raise PolicyError(source, [Issue((), "a policy is a YAML mapping with at least a 'tiers' section", 1, 1)])
    try:
        policy = Policy.model_validate(_interpolate(data))
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown field (check the spelling; see policies/examples/three-tier.yaml)"
            line, column = _locate(root, loc)
            issues.append(Issue(loc, message, line, column))
        raise PolicyError(source, issues) from None
    problems = _cross_checks(policy)
    if problems:
        raise PolicyError(source, [Issue(loc, msg, *_locate(root, loc)) for loc, msg in problems])
    return policy


def load_policy(path: str | Path | None = None) -> Policy:
    path = Path(path) if path is not None else DEFAULT_POLICY
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(path), [Issue((), f"cannot read the file: {exc.strerror}")]) from exc
    return load_policy_text(text, str(path))
