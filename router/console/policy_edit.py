"""Lint a policy pasted into the console, and put one in force: the checks of `switchyard policy lint`
(load_policy_text is what load_policy runs on a file's text, then the machine's preflight and the
capability warnings), then the hot reload the admin API uses."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from policies.loader import PolicyError, load_policy_text
from policies.preflight import preflight
from router.capabilities import lint as capability_lint

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def env_uses(text: str) -> tuple[set[str], set[str], set[tuple[str, str | None]]]:
    """How a policy text makes the gateway read the environment: the variables it substitutes (`${VAR}`: their
    values become the policy's text, which lint shows back), the ones it names (`*_env` fields, whose values
    are sent upstream as keys, and `enabled_when.env`), and each key variable with the base URL it is sent to."""
    substituted = set(_ENV_REFERENCE.findall(text))
    named: set[str] = set()
    sent: set[tuple[str, str | None]] = set()
    try:
        policy = load_policy_text(text, "<console>")
    except PolicyError:
        return substituted, named, sent

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_env") and isinstance(value, str):
                    named.add(value)
                elif key == "env" and isinstance(value, list):
                    named.update(str(v) for v in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(policy.model_dump())
    for tier in policy.tiers.values():
        if (key := tier.key_variable()) is not None:
            sent.add((key, getattr(tier, "base_url", None)))
    return substituted, named, sent


def lint_text(text: str) -> dict[str, Any]:
    """{'ok': True, tiers...} or {'ok': False, 'issues': [...]} with each issue's line and column."""
    try:
        policy = load_policy_text(text, "<console>")
    except PolicyError as exc:
        return {"ok": False, "issues": [{"path": list(i.path), "message": i.message, "line": i.line, "column": i.column,
                                         "text": str(i)} for i in exc.issues]}
    tiers = []
    for name in policy.by_cost():
        tier = policy.tiers[name]
        enabled, why = tier.status()
        tiers.append({"tier": name, "engine": tier.engine, "model": tier.model, "enabled": enabled, "why": why,
                      "input_per_mtok": float(tier.prices.input_per_mtok), "output_per_mtok": float(tier.prices.output_per_mtok)})
    issues, warnings = [], [f"capabilities: {w}" for w in capability_lint(policy)]
    for finding in preflight(policy):  # what `serve` would stop on (errors) or run degraded with (warnings)
        if finding.level == "error":
            issues.append({"path": [finding.where], "message": finding.message, "line": None, "column": None, "text": str(finding)})
        else:
            warnings.append(str(finding))
    if not any(t["enabled"] for t in tiers):
        issues.append({"path": ["tiers"], "message": "no tier is enabled; nothing could answer", "line": None, "column": None,
                       "text": "tiers: no tier is enabled; nothing could answer"})
    return {"ok": not issues, "policy": policy.name, "tiers": tiers, "issues": issues, "warnings": warnings}


def _write_atomically(path: Path, text: str) -> None:
    """Replace the policy file's content as one rename: through a symlink to its target (a ConfigMap
    mount, an operator's link), keeping the file's mode, durable before the rename."""
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=".console-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def new_env_issue(text: str, previous: str) -> dict[str, Any] | None:
    """A console session must not turn the policy into a way to read the server's environment: substitute a
    variable the file does not already substitute (a database URL, a key, shown back as a model or the
    policy's name), name one as a key the file does not already name there (a URL sent upstream as a key), or
    send a key to a base URL the file does not already send it to (another provider's key to a server the
    session runs). Such changes are made in the file on the server."""
    subst, named, sent = env_uses(text)
    was_subst, was_named, was_sent = env_uses(previous)
    problems = []
    if added := sorted(subst - was_subst):
        problems.append(f"substitute environment variables the policy file does not: {', '.join(added)}")
    if added := sorted(named - was_named):
        problems.append(f"name environment variables as keys or conditions the policy file does not: {', '.join(added)}")
    if moved := sorted({key for key, url in sent - was_sent}):
        problems.append(f"send the key in {', '.join(moved)} to a base URL the policy file does not send it to")
    if not problems:
        return None
    message = "the console cannot " + "; nor ".join(problems) + "; change the file on the server"
    return {"path": [], "message": message, "line": None, "column": None, "text": message}


def lint_for_console(text: str, previous: str) -> dict[str, Any]:
    """lint_text, after the check apply makes: lint answers substituted values (the tiers' models, the
    policy's name), so without it any variable could be read back with one lint."""
    refused = new_env_issue(text, previous)
    return {"ok": False, "issues": [refused]} if refused is not None else lint_text(text)


# One apply at a time: two operators applying at once must not interleave write, reload and restore.
_applying = asyncio.Lock()


async def apply_text(reloader: Any, text: str) -> dict[str, Any]:
    """Write the policy file the gateway serves from and reload it; a refused reload restores the file,
    so the file on disk and the policy in force never disagree."""
    path: Path | None = reloader.path
    if path is None:
        return {"reloaded": False, "issues": [{"path": [], "message": "the gateway serves the bundled policy; start it with "
                                               "--policy FILE to edit the policy from the console", "line": None, "column": None}]}
    loop = asyncio.get_running_loop()
    async with _applying:
        previous = await loop.run_in_executor(None, path.read_text, "utf-8")
        # Parsing and linting the operator's text is CPU work: off the event loop, which serves every request.
        linted = await loop.run_in_executor(None, lint_for_console, text, previous)
        if not linted["ok"]:
            return {"reloaded": False, "issues": linted["issues"]}
        await loop.run_in_executor(None, _write_atomically, path, text)
        outcome = await reloader.reload()
        if not outcome.ok:
            await loop.run_in_executor(None, _write_atomically, path, previous)
    return outcome.as_dict()
