"""The process's settings: every `SWITCHYARD_*` environment variable, read and checked in one place.

`switchyard` reads the environment once at start (`router/cli.py` `main`), refuses a bad value with
one line naming the variable, and hands the result down: the gateway keeps it (`Gateway.settings`)
and passes it to the ledger, tenancy, caches, metrics and the admin API. What has no object to hand
it to (the embedder's process-wide singleton, the console's session store) asks `current()`.

It lives in `policies/`, the configuration package, because `classifiers/` reads two of these and
nothing but the CLI and tests may import `router`. Variables a policy names itself (`${VAR}` in a
URL, `api_key_env`, `enabled_when`) are the policy's, read by its loader, and are not settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PREFIX = "SWITCHYARD_"
DEFAULT_DATABASE_URL = "sqlite:///.switchyard/switchyard.db"
DATABASE_HELP = f"Ledger database URL (default: SWITCHYARD_DATABASE_URL, else {DEFAULT_DATABASE_URL})."
EMBED_BACKENDS = ("static", "onnx-int8", "onnx", "torch")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

OpenMode = Literal["auto", "on", "off"]
LedgerSync = Literal["journal", "full", "normal"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """One or more settings have values that cannot be used; the message is one line per variable."""


def _whole(low: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if low is not None and value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return parse


def _seconds(low: float = 0.0, *, inclusive: bool = False) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite: no timer means that
            raise ValueError("must be a finite number of seconds")
        if value < low or (value == low and not inclusive):
            raise ValueError(f"must be {'at least' if inclusive else 'more than'} {low:g}")
        return value

    return parse


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("must be one of 1, true, yes, on, 0, false, no, off")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _open_mode(raw: str) -> str:
    value = raw.lower()
    if value == "auto":
        return "auto"
    with contextlib.suppress(ValueError):
        return "on" if _flag(value) else "off"
    raise ValueError("must be auto, on or off")


def _networks(raw: str) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in raw.split(",") if item.strip())
    except ValueError as exc:
        raise ValueError(f"must be comma-separated IPs or networks, such as 10.0.0.0/8 ({exc})") from None


def _text(raw: str) -> str:
    return raw


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _about(parse: Callable[[str], Any], doc: str, shown: str | None = None) -> dict[str, Any]:
    """A field's metadata: how its variable's text is parsed, its line in the README's table, and its
    default as the table prints it where the value depends on the machine. Secrets (a key, a URL that
    may carry a password) are the fields with repr=False: kept out of the repr and of error messages."""
    return {"parse": parse, "doc": doc, "shown": shown}


def _model_cache() -> Path:
    return Path.home() / ".cache" / "switchyard" / "models"


@dataclass(frozen=True)
class Settings:
    """Every process setting. An unset or empty variable takes the default."""

    database_url: str = field(
        default=DEFAULT_DATABASE_URL,
        repr=False,
        metadata=_about(_text, "Ledger database (SQLAlchemy URL): SQLite by default, `postgresql+psycopg://...` for several replicas."),
    )
    redis_url: str | None = field(
        default=None,
        repr=False,
        metadata=_about(
            _text, "Redis shared by replicas for budgets, rate limits and the response cache; unset keeps them in process memory."
        ),
    )
    ledger_sync: LedgerSync = field(
        default="journal",
        metadata=_about(
            _choice("journal", "full", "normal"),
            "How an answer's ledger row is made durable first: `journal` (local file, committed in the background), `full` "
            "(waits for an fsync'd commit), `normal` (commit without fsync).",
        ),
    )
    ledger_journal_dir: Path | None = field(
        default=None,
        metadata=_about(
            _path,
            "Where the ledger's crash journals live; unset: next to a SQLite database, else `.switchyard/ledger-journal`.",
            shown="(next to the ledger)",
        ),
    )
    admin_key: str | None = field(
        default=None,
        repr=False,
        metadata=_about(_text, "Key for the admin API (`/admin`) and the console (`/console`); unset turns both off."),
    )
    open_mode: OpenMode = field(
        default="auto",
        metadata=_about(
            _open_mode,
            "Requests without an API key: `auto` serves them only while no key was ever created, `on` always (as tenant "
            "`anonymous`), `off` never.",
        ),
    )
    allow_unshared_quota: bool = field(
        default=False,
        metadata=_about(
            _flag, "Start a second gateway on one ledger without Redis, though each then enforces the whole budget on its own."
        ),
    )
    policy_poll_s: float = field(
        default=1.0,
        metadata=_about(_seconds(0.0, inclusive=True), "Seconds between looks at the policy file for changes; 0 turns the watch off."),
    )
    log_level: str = field(
        default="info",
        metadata=_about(_choice("debug", "info", "warning", "error"), "`switchyard serve`'s log level when `--log-level` is not given."),
    )
    metrics_max_teams: int = field(
        default=50,
        metadata=_about(_whole(0), "(tenant, team) pairs that get their own Prometheus labels; later ones are counted as `other`."),
    )
    header_timeout_s: float = field(
        default=10.0,
        metadata=_about(_seconds(), "A request's headers must arrive whole within this many seconds of its first byte."),
    )
    body_timeout_s: float = field(
        default=60.0,
        metadata=_about(_seconds(), "A request's body must arrive whole within this many seconds of its headers."),
    )
    keepalive_timeout_s: float = field(
        default=5.0,
        metadata=_about(_seconds(), "Idle keep-alive connections are closed after this many seconds."),
    )
    max_connections: int | None = field(
        default=None,
        metadata=_about(
            _whole(1),
            "Open connections at most; unset: the file-descriptor limit less 128, at most 4096.",
            shown="(from the fd limit)",
        ),
    )
    console_session_s: float = field(
        default=28800.0,
        metadata=_about(_seconds(60.0, inclusive=True), "Seconds a console sign-in lasts (at least 60)."),
    )
    console_signin_failures: int = field(
        default=20,
        metadata=_about(
            _whole(1),
            "Wrong admin keys a minute, from all clients together, before every console sign-in (or admin API call) "
            "is refused for the rest of it; the console and the admin API count apart.",
        ),
    )
    console_secure_cookie: bool = field(
        default=False,
        metadata=_about(
            _flag,
            "Mark the console's session cookie Secure whatever the request says (behind a TLS proxy whose address is not known).",
        ),
    )
    trusted_proxies: tuple[Network, ...] = field(
        default=(),
        metadata=_about(
            _networks,
            "Proxies (comma-separated IPs or networks) whose X-Forwarded-Proto is believed when the console decides whether "
            "the browser used HTTPS.",
            shown="(none)",
        ),
    )
    eval_reports_dir: Path = field(
        default=Path(".switchyard/eval-reports"),
        metadata=_about(_path, "Folder of HTML evaluation reports the console lists."),
    )
    cache_embed_backend: str = field(
        default="onnx-int8",
        metadata=_about(
            _choice(*EMBED_BACKENDS),
            "Embedding the semantic cache matches requests by: `onnx-int8`, `onnx`, `torch` (contextual MiniLM) or `static`.",
        ),
    )
    embed_backend: str = field(
        default="static",
        metadata=_about(
            _choice(*EMBED_BACKENDS),
            "Backend of the process-wide default embedder (`static`: MiniLM's token table; eval baselines use it); a trained "
            "classifier uses the backend its artifact names.",
        ),
    )
    model_cache: Path = field(
        default_factory=_model_cache,
        metadata=_about(_path, "Where derived model files (MiniLM's ONNX export) are kept.", shown="`~/.cache/switchyard/models`"),
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and check every setting; a SettingsError names each bad variable with its value."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for item in dataclasses.fields(cls):
            name = env_name(item.name)
            raw = source.get(name, "").strip()
            if not raw:
                continue
            try:
                values[item.name] = item.metadata["parse"](raw)
            except ValueError as exc:
                shown = "(hidden)" if not item.repr else repr(raw)
                problems.append(f"{name}={shown}: {exc}")
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return cls(**values)


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def describe() -> list[tuple[str, str, str]]:
    """(variable, default as shown, meaning) for every setting, in declaration order."""
    rows = []
    defaults = Settings()
    for item in dataclasses.fields(Settings):
        shown = item.metadata["shown"]
        if shown is None:
            value = getattr(defaults, item.name)
            if isinstance(value, bool):
                value = int(value)
            elif isinstance(value, float):
                value = f"{value:g}"
            shown = "(unset)" if value is None else f"`{value}`"
        rows.append((env_name(item.name), shown, item.metadata["doc"]))
    return rows


def markdown_table() -> str:
    """The README's settings table, generated from the fields' docs (`python -m policies.settings`)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {doc} |" for name, default, doc in describe()]
    return "\n".join(lines)


_installed: Settings | None = None


@contextlib.contextmanager
def installed(settings: Settings) -> Iterator[Settings]:
    """Make `settings` what `current()` answers while the block runs (the CLI wraps each command in it)."""
    global _installed
    previous, _installed = _installed, settings
    try:
        yield settings
    finally:
        _installed = previous


def current() -> Settings:
    """The settings the CLI read at start; outside it (a library use, a test building parts in process)
    the environment as it is now, so nothing is cached past the command that read it."""
    return _installed if _installed is not None else Settings.from_env()


if __name__ == "__main__":
    print(markdown_table())
