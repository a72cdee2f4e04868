"""The `switchyard` command line."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from eval_harness.cli import eval_app
from policies.loader import DEFAULT_POLICY, PolicyError, load_policy
from policies.schema import Policy
from policies.settings import DATABASE_HELP, Settings, SettingsError
from policies.settings import current as current_settings
from policies.settings import installed as installed_settings
from router.capabilities import lint as capability_lint
from router.cli_classify import register as register_classifier_commands
from router.cli_learn import register as register_learn_command
from router.cli_reports import report_app
from router.cli_tenancy import budgets_app, keys_app

app = typer.Typer(help="Switchyard: a cost-aware model router and cascade gateway.", no_args_is_help=True)
policy_app = typer.Typer(help="Check and explain routing policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
logs_app = typer.Typer(help="The request log kept in the ledger.", no_args_is_help=True)
app.add_typer(logs_app, name="logs")
app.add_typer(keys_app, name="keys")
app.add_typer(budgets_app, name="budgets")
app.add_typer(report_app, name="report")
register_classifier_commands(app)
app.add_typer(eval_app, name="eval")
register_learn_command(app)
console = Console(stderr=True, soft_wrap=True)



def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"switchyard {version('switchyard')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("switchyard (not installed: no package metadata)")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Switchyard: a cost-aware model router and cascade gateway."""


if TYPE_CHECKING:
    from router.gateway import Gateway

LOG_LEVELS = ("trace", "debug", "info", "warning", "error", "critical")  # uvicorn's
PolicyOption = Annotated[Path | None, typer.Option("--policy", "-p", help="Policy YAML (default: the bundled one).")]


@app.command()
def serve(
    policy: PolicyOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 8000,
    log_level: Annotated[
        str | None, typer.Option(help="trace, debug, info, warning, error or critical (default: SWITCHYARD_LOG_LEVEL, else info).")
    ] = None,
) -> None:
    """Start the gateway: an OpenAI-compatible API at http://HOST:PORT/v1."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:  # before the imports below: the console's module reads its settings when imported
        settings = current_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    log_level = (log_level or settings.log_level).lower()
    if log_level not in LOG_LEVELS:  # uvicorn found out after the banner: a KeyError traceback
        raise typer.BadParameter(f"{log_level!r}: use one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    import uvicorn

    from router import logs, server_limits
    from router.app import create_app
    from router.gateway import Gateway

    try:
        loaded = load_policy(policy)
    except PolicyError as exc:
        console.print(f"[red]policy rejected[/red]\n{escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if not _preflight(loaded, str(policy or DEFAULT_POLICY), warnings=False):
        raise typer.Exit(2)
    try:
        limits = server_limits.current = server_limits.ServerLimits.from_settings(settings)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    gateway = _open_gateway(lambda p, s: Gateway(p, s, settings=settings), loaded, str(policy or DEFAULT_POLICY))
    for line in gateway.banner():
        console.print(line, highlight=False)
    console.print(f"  clients: {limits.describe()}", highlight=False)
    preparing = _first_start_note(loaded, settings)
    if preparing:
        console.print(preparing, highlight=False)
    console.print(f"listening on http://{host}:{port}/v1  (OpenAI base_url; model 'auto' routes)", highlight=False)
    application = create_app(gateway)
    # router.app imports the console's router to mount it; a build without router/console/ has neither.
    if "router.console" in sys.modules:
        console.print(f"console:     http://{host}:{port}/console  (sign in with SWITCHYARD_ADMIN_KEY)", highlight=False)
    logs.configure(log_level)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        proxy_headers=False,
        http=server_limits.guarded_protocol(limits),
        timeout_keep_alive=limits.keepalive_timeout_s,  # type: ignore[arg-type]  # uvicorn's timers take seconds as float
    )


def _preflight(loaded: Policy, source: str, warnings: bool = True) -> bool:
    """Print what this machine lacks for the policy, one line each; False when `serve` could not run it.
    `serve` leaves out the warnings: its banner already says which tiers are disabled and why."""
    from policies.preflight import errors, preflight

    found = preflight(loaded) if warnings else errors(preflight(loaded))
    bad = errors(found)
    if bad:
        console.print(f"[red]{escape(source)}: {len(bad)} problem(s) serve would stop on[/red]", highlight=False)
    for finding in found:
        colour = "red" if finding.level == "error" else "yellow"
        console.print(f"  [{colour}]{finding.level}[/{colour}]: {escape(f'{finding.where}: {finding.message}')}", highlight=False)
    return not bad


def _open_gateway(factory: Callable[[Policy, str], Gateway], loaded: Policy, source: str) -> Gateway:
    """The gateway, with its ledger reachable, or one line on why not (exit 2): a bad
    SWITCHYARD_DATABASE_URL, a missing directory or a database that does not answer was a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        gateway = factory(loaded, source)
        with gateway.ledger.engine.connect():
            pass
    except (SQLAlchemyError, OSError, ValueError, ImportError) as exc:  # a port not a number, a driver not installed
        from router.errors import redact_credentials

        first = redact_credentials((str(exc).strip().splitlines() or [type(exc).__name__])[0])
        what = "cannot open the ledger (SWITCHYARD_DATABASE_URL)" if _from_ledger(exc) else "cannot start the gateway"
        console.print(f"[red]{what}: {escape(first)}[/red]", highlight=False)
        raise typer.Exit(2) from None
    return gateway


def _from_ledger(exc: BaseException) -> bool:
    """Whether a start-up failure came from opening the ledger, not from another part (a bad Redis URL)."""
    import traceback

    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        return True
    files = [frame.filename.replace("\\", "/") for frame in traceback.extract_tb(exc.__traceback__)]
    return any("/sqlalchemy/" in f or "/router/ledger/" in f for f in files)


def _first_start_note(loaded: Policy, settings: Settings) -> str | None:
    """One line for what the first start prepares (the ONNX export of the semantic cache's embedder)."""
    if not loaded.cache.semantic:
        return None
    from classifiers.embed import cache_root, onnx_path

    backend = settings.cache_embed_backend
    try:
        ready = backend not in ("onnx-int8", "onnx") or onnx_path(quantized=backend == "onnx-int8").is_file()
    except Exception:  # noqa: BLE001 - a missing embedder package is preflight's warning; the cache then runs without it
        return None
    if ready:
        return None
    return f"preparing the semantic cache's embedder (one-time, ~20 s): MiniLM to ONNX {backend} under {cache_root()}"


@policy_app.command("lint")
def lint(path: Annotated[Path, typer.Argument(help="The policy YAML to check.")]) -> None:
    """Validate a policy and explain every problem with its line and column."""
    try:
        loaded = load_policy(path)
    except PolicyError as exc:
        console.print(f"[red]{escape(exc.source)}: {len(exc.issues)} problem(s)[/red]", highlight=False)
        for issue in exc.issues:
            console.print(f"  {escape(str(issue))}", highlight=False)
        raise typer.Exit(1) from None
    if not _preflight(loaded, str(path)):
        raise typer.Exit(1)
    console.print(f"[green]{escape(str(path))}: OK[/green] policy {escape(repr(loaded.name))}, {len(loaded.tiers)} tiers", highlight=False)
    for warning in capability_lint(loaded):
        console.print(f"  [yellow]capabilities:[/yellow] {escape(warning)}", highlight=False)
    for name in loaded.by_cost():
        tier = loaded.tiers[name]
        enabled, why = tier.status()
        console.print(
            f"  {name:<12} {tier.engine:<8} {tier.model:<28} ${tier.prices.input_per_mtok}/${tier.prices.output_per_mtok} per Mtok  "
            f"{'enabled' if enabled else 'disabled'}: {why}",
            highlight=False,
            markup=False,
        )


def parse_when(value: str | None) -> datetime | None:
    """An ISO date or time (UTC unless it says otherwise), or an age such as 90m, 24h, 7d."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        try:
            delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
            return datetime.now(UTC) - delta
        except OverflowError:  # 99999999999d: an OverflowError traceback
            raise typer.BadParameter(f"{value!r} reaches before the year 1") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither an ISO date/time nor an age like 24h or 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """--since and --until; an --until not after --since is refused (it silently selected nothing)."""
    start, end = parse_when(since), parse_when(until)
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter(f"--until {until} is not after --since {since}")
    return start, end


@logs_app.command("export")
def logs_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the labeled-traffic JSONL.")],
    since: Annotated[str | None, typer.Option(help="Oldest request: ISO date/time or an age (24h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Newest request (exclusive), same forms.")] = None,
    include_failed: Annotated[bool, typer.Option(help="Also export failed and cancelled requests (refused ones keep no prompt).")] = False,
    database_url: Annotated[str | None, typer.Option(help=DATABASE_HELP)] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", "-p", help="Policy the gateway ran (default: the bundled one): names the models of cascade stages."),
    ] = None,
) -> None:
    """Write logged requests as labeled-traffic JSONL (scores empty until labeled)."""
    import orjson

    from router.cli_tenancy import open_ledger
    from router.export import export

    try:
        loaded = load_policy(policy)
    except PolicyError as exc:
        if policy is not None:
            console.print(f"[red]policy rejected[/red]\n{escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        # The bundled policy only helps name cascade stages; the export works without it.
        tier_models: dict[str, str] = {}
    else:
        tier_models = {name: tier.model for name, tier in loaded.tiers.items()}
    start, end = parse_window(since, until)  # before the ledger is opened (and perhaps created)
    ledger = open_ledger(database_url)
    written = 0
    # A file is written beside --out and renamed over it at the end: a failure part-way (a full disk, the
    # database gone) left a half-written export there. Anything else at --out (/dev/stdout, a pipe, a symlink)
    # is written through, never replaced.
    regular = not out.exists() or (out.is_file() and not out.is_symlink())
    target = out.with_name(f".{out.name}.partial") if regular else out
    try:
        # 0600 like the ledger it comes from: the export holds the same prompts and answers.
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            for record in export(ledger, start, end, include_failed, tier_models):
                handle.write(orjson.dumps(record) + b"\n")
                written += 1
        if regular:
            target.replace(out)
    except OSError as exc:
        console.print(f"cannot write {out}: {exc.strerror or exc}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    finally:
        if regular:
            with contextlib.suppress(OSError):  # its folder may be a file: nothing was made there
                target.unlink(missing_ok=True)
        ledger.close()
    console.print(f"wrote {written} requests to {out}", highlight=False, markup=False)


deploy_app = typer.Typer(help="Render deployments from a policy: vLLM launch commands, docker-compose, Kubernetes.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")
DeployPolicy = Annotated[Path, typer.Option("--policy", "-p", help="The policy YAML the deployment serves.")]
Namespace = Annotated[str, typer.Option(help="Kubernetes namespace of the rendered objects.")]


def _deploy_write(files: dict[str, str], out: Path | None, check: bool = False) -> None:
    if out is None:
        for name, text in files.items():
            typer.echo(f"# ---- {name}\n{text}", nl=False)
        return
    stale = [name for name, text in files.items() if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text]
    if check:
        for name in stale:
            console.print(f"[red]{out / name} is out of date[/red]", highlight=False)
        if stale:
            raise typer.Exit(1)
        console.print(f"[green]{out}: {len(files)} files up to date[/green]", highlight=False)
        return
    if out.exists() and not out.is_dir():  # mkdir under it was a FileExistsError traceback
        console.print(f"[red]--out {escape(str(out))} is a file; give a folder[/red]", highlight=False)
        raise typer.Exit(2)
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if path.suffix == ".sh":
            path.chmod(0o755)
        console.print(f"{'wrote' if name in stale else 'unchanged'} {path}", highlight=False, markup=False)


def _deploy_policy_text(policy: Path) -> str:
    try:
        return policy.read_text(encoding="utf-8")
    except OSError as exc:
        console.print(f"[red]{escape(f'cannot read {policy}: {exc.strerror}')}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except UnicodeDecodeError as exc:  # a binary file was a traceback
        console.print(f"[red]{escape(f'cannot read {policy}: not UTF-8 text (byte {exc.start})')}[/red]", highlight=False)
        raise typer.Exit(2) from None


@deploy_app.command("vllm")
def deploy_vllm(
    policy: DeployPolicy,
    tier: Annotated[str, typer.Option("--tier", "-t", help="The vllm tier to deploy.")],
    out: Annotated[Path | None, typer.Option(help="Write TIER.sh and TIER.k8s.yaml here instead of printing them.")] = None,
    namespace: Namespace = "switchyard",
) -> None:
    """Print (or write) the vLLM launch command and Kubernetes manifest for one tier."""
    from policies.deploy import DeployOptions, render_vllm_tier

    try:
        rendered = render_vllm_tier(_deploy_policy_text(policy), str(policy), tier, DeployOptions(namespace=namespace))
    except PolicyError as exc:
        console.print(f"[red]policy rejected[/red]\n{escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except KeyError as exc:
        console.print(f"[red]{escape(str(exc.args[0]))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    _deploy_write(rendered.files, out)


@deploy_app.command("render")
def deploy_render(
    policy: DeployPolicy,
    out: Annotated[Path | None, typer.Option(help="Folder to write into (e.g. deploy); prints when omitted.")] = None,
    check: Annotated[bool, typer.Option(help="Only check that --out holds exactly what would be rendered.")] = False,
    namespace: Namespace = "switchyard",
    gateway_image: Annotated[str, typer.Option(help="The gateway's container image.")] = "switchyard:0.1.0",
    gateway_replicas: Annotated[int, typer.Option(min=1, help="Gateway replicas (and the HPA's minimum).")] = 2,
) -> None:
    """Render docker-compose, Kubernetes manifests and vLLM launch scripts for a policy."""
    from policies.deploy import DeployOptions, render

    options = DeployOptions(namespace=namespace, gateway_image=gateway_image, gateway_replicas=gateway_replicas)
    try:
        rendered = render(_deploy_policy_text(policy), str(policy), options)
    except PolicyError as exc:
        console.print(f"[red]policy rejected[/red]\n{escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    for note in rendered.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if check and out is None:
        raise typer.BadParameter("--check needs --out")
    _deploy_write(rendered.files, out, check)


def main() -> None:
    # The environment is read once, here: a bad value stops every command with one line, before it
    # does anything, and what each part of the process sees is this one reading.
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise SystemExit(2) from None
    with installed_settings(settings):
        app()


if __name__ == "__main__":
    main()
