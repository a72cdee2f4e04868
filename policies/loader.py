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

from engines.factory import fields_of, kinds
from policies.schema import Policy

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_POLICY = Path(__file__).with_name("default.yaml")
# A policy is a few kilobytes: a larger file is a wrong one (a log, a model, /dev/zero), refused before
# it is read whole or parsed, either of which could take minutes and gigabytes.
MAX_POLICY_BYTES = 1024 * 1024


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


def _duplicate_keys(root: yaml.Node | None) -> list[Issue]:
    """Keys given twice in one mapping: YAML keeps the last without a word, so a pasted tier silently
    replaced another. Each node is visited once (the alias check before this bounds how many there are)."""
    issues: list[Issue] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack += [(item, (*path, i)) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in first:
                        message = f"duplicate key {key.value!r} (first on line {first[key.value]})"
                        issues.append(Issue((*path, key.value), message, key.start_mark.line + 1, key.start_mark.column + 1))
                    first.setdefault(key.value, key.start_mark.line + 1)
                stack.append((value, (*path, key.value if isinstance(key, yaml.ScalarNode) else "?")))
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.column or 0))


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
        problems += [(("tiers", name, *where), message) for where, message in tier.problems()]
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


def _explain(data: dict[str, Any], loc: tuple[str | int, ...], error: Any) -> tuple[tuple[str | int, ...], str]:
    """Where a validation error is in the file, and what it says, in the policy's terms.

    Pydantic places an error inside a tier under the tier's engine kind (tiers.x.openai.model_path), a
    place that is not in the file: the kind comes out of the path. A field the kind does not take is
    named with the tier and its engine, and, when another kind takes it, which kinds do."""
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see policies/examples/three-tier.yaml)"
    if len(loc) < 2 or loc[0] != "tiers":
        return loc, message
    name = loc[1]
    raw = (data.get("tiers") or {}).get(name)
    engine = raw.get("engine") if isinstance(raw, dict) else None
    if error["type"] == "union_tag_not_found":
        return ("tiers", name), f"tier {name!r} names no engine; engine is one of {', '.join(kinds())}"
    if error["type"] == "union_tag_invalid":
        return ("tiers", name, "engine"), f"tier {name!r}: unknown engine {engine!r}; engine is one of {', '.join(kinds())}"
    if len(loc) < 3 or loc[2] != engine:
        return loc, message
    loc = ("tiers", name, *loc[3:])
    if error["type"] == "extra_forbidden":
        field = str(loc[-1])
        takers = [k for k in kinds() if field in fields_of(k)] if len(loc) == 3 else []
        hint = f"{field!r} belongs to {' and '.join(takers)} tiers" if takers else "check the spelling"
        return loc, f"tier {name!r} (engine: {engine}): unknown field {field!r} ({hint})"
    return loc, message


MAX_NODES = 100_000  # a policy of a thousand tiers is some 20,000 YAML nodes


def _expanded_nodes(root: yaml.Node | None) -> int:
    """How many nodes the document holds with every alias expanded, counted over the composed graph
    (each node once); past MAX_NODES, or through an alias to a node that contains it, a ValueError."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ValueError("an alias refers to a node that contains it")
        open_.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise ValueError(f"its aliases expand to more than {MAX_NODES} nodes")
        open_.discard(key)
        sizes[key] = total
        return total

    return 0 if root is None else size(root)


def load_policy_text(text: str, source: str = "<policy>") -> Policy:
    try:
        # Composed once (what yaml.safe_load does), checked, then built from the same nodes: before anything
        # builds the data, as an alias bomb (a few KB of anchors expanding to billions of nodes) held the CPU
        # as long as its copy took, and a recursive alias recursed forever.
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            _expanded_nodes(root)
            data = None if root is None else loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(source, [Issue((), f"invalid YAML: {problem}", line, column)]) from exc
    except ValueError as exc:
        raise PolicyError(source, [Issue((), f"refused YAML: {exc}")]) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise PolicyError(source, [Issue((), "invalid YAML: collections nest too deep")]) from None
    duplicates = _duplicate_keys(root)
    if duplicates:
        raise PolicyError(source, duplicates)
    if not isinstance(data, dict):
        raise PolicyError(source, [Issue((), "a policy is a YAML mapping with at least a 'tiers' section", 1, 1)])
    try:
        policy = Policy.model_validate(_interpolate(data))
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc, message = _explain(data, tuple(error["loc"]), error)
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
        with path.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)  # never all of a wrong, huge (or endless) file
    except OSError as exc:
        raise PolicyError(str(path), [Issue((), f"cannot read the file: {exc.strerror}")]) from exc
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(str(path), [Issue((), f"larger than {MAX_POLICY_BYTES // 1024} KiB: not a policy file")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(str(path), [Issue((), f"not UTF-8 text (byte {exc.start}): not a policy file")]) from None
    return load_policy_text(text, str(path))
