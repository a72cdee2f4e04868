"""The `switchyard` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from policies.loader import DEFAULT_POLICY, PolicyError, load_policy

app = typer.Typer(help="Switchyard: a cost-aware model router and cascade gateway.", no_args_is_help=True)
policy_app = typer.Typer(help="Check and explain routing policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
console = Console(stderr=True)

PolicyOption = Annotated[Path | None, typer.Option("--policy", "-p", help="Policy YAML (default: the bundled one).")]


@app.command()
def serve(
    policy: PolicyOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Start the gateway: an OpenAI-compatible API at http://HOST:PORT/v1."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    from router import logs
    from router.app import create_app
    from router.gateway import Gateway

    try:
        loaded = load_policy(policy)
    except PolicyError as exc:
        console.print(f"[red]policy rejected[/red]\n{exc}")
        raise typer.Exit(2) from None
    gateway = Gateway(loaded, str(policy or DEFAULT_POLICY))
    for line in gateway.banner():
        console.print(line, highlight=False)
    if not any(enabled for enabled, _ in gateway.status.values()):
        console.print("[red]no tier is enabled; nothing could answer[/red]")
        raise typer.Exit(2)
    console.print(f"listening on http://{host}:{port}/v1  (OpenAI base_url; model 'auto' routes)", highlight=False)
    logs.configure(log_level)
    uvicorn.run(
        create_app(gateway),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )


@policy_app.command("lint")
def lint(path: Annotated[Path, typer.Argument(help="The policy YAML to check.")]) -> None:
    """Validate a policy and explain every problem with its line and column."""
    try:
        loaded = load_policy(path)
    except PolicyError as exc:
        console.print(f"[red]{exc.source}: {len(exc.issues)} problem(s)[/red]")
        for issue in exc.issues:
            console.print(f"  {issue}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]{path}: OK[/green] policy {loaded.name!r}, {len(loaded.tiers)} tiers", highlight=False)
    for name in loaded.by_cost():
        tier = loaded.tiers[name]
        enabled, why = tier.status()
        console.print(
            f"  {name:<12} {tier.engine:<8} {tier.model:<28} ${tier.prices.input_per_mtok}/${tier.prices.output_per_mtok} per Mtok  "
            f"{'enabled' if enabled else 'disabled'}: {why}",
            highlight=False,
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
