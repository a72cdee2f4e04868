"""`switchyard report spend`: where the money went, from the ledger."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from policies.settings import DATABASE_HELP
from router.cli_tenancy import open_ledger
from router.reports import GROUPS, learn_spend, spend, to_csv, to_html, totals


def _usd(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):.6f}"


report_app = typer.Typer(help="Spend reports from the ledger.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@report_app.command("spend")
def spend_report(
    by: Annotated[str, typer.Option(help=f"Group by {', '.join(GROUPS)}.")] = "team",
    since: Annotated[str | None, typer.Option(help="ISO date/time or an age (24h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time or an age (exclusive).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or html.")] = "table",
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write to a file instead of the terminal.")] = None,
    database_url: Annotated[str | None, typer.Option(help=DATABASE_HELP)] = None,
) -> None:
    """Spend, requests, tokens, cache hits and savings versus the dearest tier, gross and net of routing's own costs."""
    from router.cli import parse_window

    if by not in GROUPS:
        raise typer.BadParameter(f"group by one of {', '.join(GROUPS)}")
    if fmt not in ("table", "csv", "json", "html"):
        raise typer.BadParameter("format is table, csv, json or html")
    start, end = parse_window(since, until)
    ledger = open_ledger(database_url)
    if fmt == "html":
        text = to_html(ledger.engine, by, start, end)
    else:
        rows = spend(ledger.engine, by, start, end)
        assert isinstance(rows, list)
        if fmt == "csv":
            text = to_csv(rows)
        elif fmt == "json":
            summary = totals(rows, learn_spend(ledger.engine, start, end))
            text = orjson.dumps({"by": by, "data": [r.as_dict() for r in rows], "totals": summary}).decode()
        else:
            table = Table(by, "requests", "prompt tok", "completion tok", "spend $", "saved $", "cache hits", title="Spend")
            for r in rows:
                table.add_row(
                    escape(r.group),  # a team or tenant name, not markup
                    str(r.requests),
                    str(r.prompt_tokens),
                    str(r.completion_tokens),
                    f"{r.spend_usd:.6f}",
                    f"{r.saved_usd:.6f}",
                    str(r.cache_hits),
                )
            table.add_row(
                "total",
                str(sum(r.requests for r in rows)),
                "",
                "",
                f"{sum(r.spend_usd for r in rows):.6f}",
                f"{sum(r.saved_usd for r in rows):.6f}",
                str(sum(r.cache_hits for r in rows)),
                style="bold",
            )
            summary = totals(rows, learn_spend(ledger.engine, start, end))
            ledger.close()
            overheads = summary["overheads"]
            net = (
                f"saved ${summary['gross_saved_usd']:.6f} gross, less cascade first stages ${overheads['cascade_first_stages_usd']:.6f},"
                f" classifier/embedding compute ${overheads['compute_usd']:.6f} and learn's judge ${overheads['judge_usd']:.6f}"
                f" and labeling answers ${overheads['label_answers_usd']:.6f}"
                f" and cache audits ${overheads.get('cache_audit_usd', 0.0):.6f}: {_usd(summary['net_saved_usd'])} net"
                f" ({summary['net_saved_pct'] if summary['net_saved_pct'] is not None else '-'}% of the dearest-tier cost)"
            )
            if output is None:
                out.print(table)
                out.print(net, highlight=False)
                return
            rendered = Console(file=io.StringIO(), width=160)
            rendered.print(table)
            rendered.print(net, highlight=False)
            text = rendered.file.getvalue()  # type: ignore[attr-defined]
    ledger.close()
    if output is not None:
        # The whole report is written at once: writing it as it was printed left a half-written file
        # (and a traceback) when --out was a folder or in a missing one.
        try:
            output.write_text(text)
        except OSError as exc:
            err.print(f"cannot write {output}: {exc.strerror or exc}", highlight=False, markup=False)
            raise typer.Exit(2) from None
        out.print(f"wrote {output}", highlight=False, markup=False)
    else:
        print(text)
