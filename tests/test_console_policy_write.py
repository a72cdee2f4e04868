"""The console writes the policy file the gateway serves from: as the operator's file, not a new one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

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
