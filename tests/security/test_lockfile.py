"""Defect 15: the gateway's dependencies install from a lock with exact versions and hashes.

`make` installs requirements.lock with `pip install --require-hashes`, then the project itself with
`--no-deps`: so every dependency pyproject.toml names (the base ones and the locked extras) must be
pinned in the lock at a version its specifier allows, with hashes, and the releases of litellm that
carried malware (1.82.7 and 1.82.8, March 2026) must be excluded in both files.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
LOCKED_EXTRAS = ("local", "dev")  # what `make` installs: `pip install -e '.[local,dev]'` before the lock
MALWARE = {"litellm": {"1.82.7", "1.82.8"}}


def pins() -> dict[str, tuple[str, list[str]]]:
    """The lock's entries: canonical name -> (exact version, hashes)."""
    text = re.sub(r"\\\n", " ", LOCK.read_text())  # join continuation lines
    found: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line.strip()
        if not line or line.startswith("-"):
            continue
        spec, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", spec)
        assert match, f"not pinned to one exact version: {line!r}"
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=sha256:")]
        found[canonicalize_name(match[1])] = (match[2], hashes)
    return found


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = list(project["project"]["dependencies"])
    for extra in LOCKED_EXTRAS:
        names += project["project"]["optional-dependencies"][extra]
    # `make` installs the project without build isolation: its build requirements come from the lock too.
    names += project["build-system"]["requires"]
    return [Requirement(name) for name in names]


def test_every_project_dependency_is_pinned_with_hashes() -> None:
    locked = pins()
    assert len(locked) > 50
    for name, (_version, hashes) in locked.items():
        assert hashes, f"{name} has no --hash in the lock"
    for requirement in project_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements.lock"
        version = locked[name][0]
        allowed = requirement.specifier.contains(Version(version), prereleases=True)
        assert allowed, f"lock pins {name}=={version}; pyproject asks {requirement}"


def test_lock_is_closed_under_dependencies() -> None:
    """What the project's dependencies require in turn (with the extras asked for) is locked too, at
    versions they allow, or `pip install --require-hashes` fails on a fresh machine. Read from the
    installed distributions' metadata, for those installed at the locked version."""
    locked = pins()
    work = [(canonicalize_name(r.name), set(r.extras)) for r in project_requirements() if r.marker is None or r.marker.evaluate()]
    done: dict[str, set[str]] = {}
    checked = 0
    while work:
        name, extras = work.pop()
        todo = ({""} | extras) - done.setdefault(name, set())
        if not todo:
            continue
        done[name] |= todo
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(dist.version) != Version(locked[name][0]):
            continue
        checked += 1
        for line in dist.requires or []:
            dependency = Requirement(line)
            if dependency.marker is None:
                if "" not in todo:
                    continue
            elif not any(dependency.marker.evaluate({"extra": extra}) for extra in todo):
                continue
            dep = canonicalize_name(dependency.name)
            assert dep in locked, f"{name} requires {dependency}, which is not in requirements.lock"
            assert dependency.specifier.contains(Version(locked[dep][0]), prereleases=True), (
                f"{name} requires {dependency}; the lock pins {dep}=={locked[dep][0]}"
            )
            work.append((dep, set(dependency.extras)))
    assert checked > 50, "too few locked packages are installed to check the lock against"


def test_releases_that_carried_malware_are_excluded() -> None:
    locked = pins()
    for name, bad in MALWARE.items():
        assert locked[name][0] not in bad
        (requirement,) = [r for r in project_requirements() if canonicalize_name(r.name) == name]
        assert not any(requirement.specifier.contains(v) for v in bad), f"pyproject allows a malicious {name}: {requirement}"


def test_make_installs_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^\$\(BIN\)/\.installed:(.*)$", makefile, re.M)
    assert target and "requirements.lock" in target[1], "the install target must be redone when the lock changes"
    assert re.search(r"pip install .*--require-hashes .*-r requirements\.lock", makefile)
    assert re.search(r"pip install .*--no-deps .*-e", makefile), "the project itself installs without resolving anything"
