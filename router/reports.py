"""Spend reports from the ledger: who spent what, on which tier, and what routing and caching saved.

"Saved" is measured against sending every request to the policy's dearest tier at the same
token counts (recorded per request when it is answered); a cache hit saves the whole cost it
would have had.

Savings are shown gross and net of what routing and caching cost besides the answers (`savings()`):
the cascade's earlier stages (their spend is in each row's cost already, and kept apart in
`cascade_nanousd`) and the gateway's own classifier and embedding compute (`overhead_nanousd`,
router/overhead.py), and what `switchyard learn` spent outside the gateway labeling traffic (its judge's
verdicts and the tiers' answers, the `overhead_spend` table): no request carries that, so it is counted by
when it was spent, and only in the whole ledger's figures (it belongs to no team, tenant or key).
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.engine import Engine

from router.ledger.tables import overhead_spend, requests

GROUPS = ("team", "tenant", "key", "tier", "model", "door", "day")


@dataclass
class SpendRow:
    group: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    spend_usd: float
    saved_usd: float
    cache_hits: int
    cascade_usd: float = 0.0  # spend on cascade stages that did not give the answer (part of spend_usd)
    compute_usd: float = 0.0  # the gateway's classifier and embedding compute, priced

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "spend_usd": round(self.spend_usd, 9),
            "saved_usd": round(self.saved_usd, 9),
            "cache_hits": self.cache_hits,
            "cascade_usd": round(self.cascade_usd, 9),
            "compute_usd": round(self.compute_usd, 9),
        }


# overhead_spend.kind -> the overheads' key; 'cache_audit': the semantic cache's re-asks (router/cache/audit.py)
LEARN_KINDS = {"judge": "judge_usd", "label_answer": "label_answers_usd", "cache_audit": "cache_audit_usd"}


def learn_spend(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> dict[str, float]:
    """What `switchyard learn` spent in a period outside any request, in US$ per overhead key (judge_usd,
    label_answers_usd); 0 for a kind that spent nothing."""
    query = select(overhead_spend.c.kind, func.sum(overhead_spend.c.cost_nanousd).label("cost")).group_by(overhead_spend.c.kind)
    if since is not None:
        query = query.where(overhead_spend.c.created_at >= since)
    if until is not None:
        query = query.where(overhead_spend.c.created_at < until)
    out = dict.fromkeys(LEARN_KINDS.values(), 0.0)
    with engine.connect() as connection:
        for row in connection.execute(query):
            if row.kind in LEARN_KINDS:
                out[LEARN_KINDS[row.kind]] += int(row.cost or 0) / 1e9
    return out


def savings(
    counterfactual: float, spent: float, saved: float, cascade: float, compute: float, learning: dict[str, float] | None = None
) -> dict[str, Any]:
    """Savings gross and net of their overheads, as dollars and as a share of the counterfactual, and the
    total spend: the requests' and `learn`'s labeling calls (`learning`, from learn_spend()).

    `saved` is the counterfactual less the requests' spend, which includes the cascade's earlier stages:
    so the gross saving (what routing and caching avoided before paying for themselves) adds those
    back, and the net saving takes the compute and the labeling calls off."""
    learning = learning or dict.fromkeys(LEARN_KINDS.values(), 0.0)
    learned = sum(learning.values())
    gross, net = saved + cascade, saved - compute - learned

    def pct(value: float) -> float | None:
        return round(100 * value / counterfactual, 2) if counterfactual else None

    return {
        "gross_saved_usd": round(gross, 9),
        "gross_saved_pct": pct(gross),
        "overheads": {
            "cascade_first_stages_usd": round(cascade, 9),
            "compute_usd": round(compute, 9),
            **{key: round(value, 9) for key, value in learning.items()},
            "total_usd": round(cascade + compute + learned, 9),
        },
        "net_saved_usd": round(net, 9),
        "net_saved_pct": pct(net),
        "total_spend_usd": round(spent + learned, 9),
    }


def totals(rows: list[SpendRow], learning: dict[str, float] | None = None) -> dict[str, Any]:
    """The report's totals with savings gross and net (the same figures as the console's overview against
    the dearest tier); `learning` is learn_spend() over the same period."""
    spent, saved = sum(r.spend_usd for r in rows), sum(r.saved_usd for r in rows)
    cascade, compute = sum(r.cascade_usd for r in rows), sum(r.compute_usd for r in rows)
    counterfactual = spent + saved
    return {
        "requests": sum(r.requests for r in rows),
        "spend_usd": round(spent, 9),
        "saved_usd": round(saved, 9),
        "counterfactual_usd": round(counterfactual, 9),
        "saved_pct": round(100 * saved / counterfactual, 2) if counterfactual else None,
        "cache_hits": sum(r.cache_hits for r in rows),
        **savings(counterfactual, spent, saved, cascade, compute, learning),
    }


def _group_column(by: str, engine: Engine) -> Any:
    if by == "day":
        if engine.dialect.name == "sqlite":
            return func.substr(requests.c.created_at, 1, 10)
        return func.to_char(func.timezone("UTC", requests.c.created_at), "YYYY-MM-DD")
    return {
        "team": requests.c.team,
        "tenant": requests.c.tenant,
        "key": requests.c.key_id,
        "tier": requests.c.tier,
        "model": requests.c.model,
        "door": requests.c.door,
    }[by]


def spend(
    engine: Engine, by: str = "team", since: datetime | None = None, until: datetime | None = None, then_by: str | None = None
) -> list[SpendRow] | dict[str, list[SpendRow]]:
    """Spend grouped by one dimension; with `then_by`, one series per value of the second (for charts)."""
    if by not in GROUPS or (then_by is not None and then_by not in GROUPS):
        raise ValueError(f"group by one of {', '.join(GROUPS)}")
    group = _group_column(by, engine).label("g")
    columns = [
        group,
        func.count().label("requests"),
        func.coalesce(func.sum(requests.c.prompt_tokens), 0).label("prompt_tokens"),
        func.coalesce(func.sum(requests.c.completion_tokens), 0).label("completion_tokens"),
        func.coalesce(func.sum(requests.c.cost_nanousd), 0).label("cost"),
        func.coalesce(func.sum(requests.c.saved_nanousd), 0).label("saved"),
        func.coalesce(func.sum(cast(case((requests.c.cache.like("hit%"), 1), else_=0), Integer)), 0).label("hits"),
        func.coalesce(func.sum(requests.c.cascade_nanousd), 0).label("cascade"),
        func.coalesce(func.sum(requests.c.overhead_nanousd), 0).label("compute"),
    ]
    second = _group_column(then_by, engine).label("s") if then_by else None
    query = select(*columns, *([second] if second is not None else [])).where(requests.c.status == "ok")
    if since is not None:
        query = query.where(requests.c.created_at >= since)
    if until is not None:
        query = query.where(requests.c.created_at < until)
    query = query.group_by(group, *([second] if second is not None else [])).order_by(group)
    with engine.connect() as connection:
        rows = connection.execute(query).all()

    def make(row: Any) -> SpendRow:
        return SpendRow(
            str(row.g) if row.g is not None else "(none)",
            int(row.requests),
            int(row.prompt_tokens),
            int(row.completion_tokens),
            int(row.cost) / 1e9,
            int(row.saved) / 1e9,
            int(row.hits),
            int(row.cascade) / 1e9,
            int(row.compute) / 1e9,
        )

    if then_by is None:
        return [make(r) for r in rows]
    series: dict[str, list[SpendRow]] = {}
    for row in rows:
        series.setdefault(str(row.s) if row.s is not None else "(none)", []).append(make(row))
    return series


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that opens with = + - @ (a team named '=HYPERLINK(...)') gets a
    leading apostrophe, as OWASP advises for CSV injection; numbers, negative ones included, are left alone."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def to_csv(rows: list[SpendRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].as_dict()) if rows else ["group"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.as_dict().items()})
    return buffer.getvalue()


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _bars(title: str, labels: list[str], series: dict[str, list[float]], width: int = 860, height: int = 300, unit: str = "$") -> str:
    """A stacked bar chart as inline SVG: one bar per label, one colour per series."""
    left, bottom, top = 70, 40, 30
    plot_w, plot_h = width - left - 150, height - bottom - top
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = max(totals, default=0) or 1.0
    step = plot_w / max(len(labels), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
    ]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        tick = f"${value:.4g}" if unit == "$" else f"{value:.4g}"
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    for i, label in enumerate(labels):
        base = top + plot_h
        for j, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / peak
            if h <= 0:
                continue
            base -= h
            parts.append(
                f'<rect class="bar" x="{left + i * step + step * 0.15:.1f}" y="{base:.1f}" width="{step * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{html.escape(name)} {html.escape(label)}: '
                f"{'$' if unit == '$' else ''}{values[i]:.6g}</title></rect>"
            )
        parts.append(
            f'<text x="{left + (i + 0.5) * step:.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle">'
            f"{html.escape(label[:14])}</text>"
        )
    for j, name in enumerate(series):
        y = top + 14 * j
        parts.append(
            f'<rect x="{left + plot_w + 16}" y="{y}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{left + plot_w + 30}" y="{y + 9}" font-size="11">{html.escape(name[:18])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _pivot(series: dict[str, list[SpendRow]], field: str) -> tuple[list[str], dict[str, list[float]]]:
    labels = sorted({row.group for rows in series.values() for row in rows})
    out = {}
    for name, rows in series.items():
        by_label = {row.group: getattr(row, field) for row in rows}
        out[name] = [by_label.get(label, 0.0) for label in labels]
    return labels, out


def to_html(engine: Engine, by: str, since: datetime | None, until: datetime | None) -> str:
    table_rows = spend(engine, by, since, until)
    assert isinstance(table_rows, list)
    per_team = spend(engine, "day", since, until, then_by="team")
    per_tier = spend(engine, "day", since, until, then_by="tier")
    assert isinstance(per_team, dict) and isinstance(per_tier, dict)
    days, team_spend = _pivot(per_team, "spend_usd")
    tier_days, tier_spend = _pivot(per_tier, "spend_usd")
    by_day = spend(engine, "day", since, until)
    assert isinstance(by_day, list)
    savings = {"spent": [r.spend_usd for r in by_day], "saved": [r.saved_usd for r in by_day]}
    _, tier_requests = _pivot(per_tier, "requests")
    tier_mix = spend(engine, "tier", since, until)
    assert isinstance(tier_mix, list)
    # A tier that answered for $0 (the local one) has no height in a spend chart: its name says so.
    free = {r.group for r in tier_mix if r.requests and r.spend_usd == 0}
    tier_spend = {(f"{name} ($0, free)" if name in free else name): values for name, values in tier_spend.items()}
    tier_requests = {(f"{name} ($0, free)" if name in free else name): values for name, values in tier_requests.items()}
    total = sum(r.spend_usd for r in table_rows)
    saved = sum(r.saved_usd for r in table_rows)
    answered = sum(r.requests for r in tier_mix)
    saved_pct = f" ({100 * saved / (total + saved):.1f}% of ${total + saved:.6f})" if total + saved else ""
    net = totals(table_rows, learn_spend(engine, since, until))
    mix = "".join(
        f"<tr><td>{html.escape(r.group)}{' (free)' if r.group in free else ''}</td><td>{r.requests}</td>"
        f"<td>{100 * r.requests / answered:.1f}%</td><td>{r.spend_usd:.6f}</td>"
        f"<td>{100 * r.spend_usd / total if total else 0:.1f}%</td></tr>"
        for r in tier_mix
    )
    head = "".join(f"<th>{h}</th>" for h in (by, "requests", "prompt tokens", "completion tokens", "spend $", "saved $", "cache hits"))
    body = "".join(
        f"<tr><td>{html.escape(r.group)}</td><td>{r.requests}</td><td>{r.prompt_tokens}</td><td>{r.completion_tokens}</td>"
        f"<td>{r.spend_usd:.6f}</td><td>{r.saved_usd:.6f}</td><td>{r.cache_hits}</td></tr>"
        for r in table_rows
    )
    window = f"{since.isoformat() if since else 'the start'} to {until.isoformat() if until else 'now'}"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Switchyard spend report</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:12px 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
.summary{{font-size:18px}}</style></head><body>
<h1>Spend report</h1>
<p class="summary">From {html.escape(window)}: spent <b>${total:.6f}</b>; routing and caching saved <b>${saved:.6f}</b>{saved_pct}
versus sending every request to the dearest tier.</p>
<p>Gross of routing's own costs that is <b>${net["gross_saved_usd"]:.6f}</b>; less the cascade's first stages
(${net["overheads"]["cascade_first_stages_usd"]:.6f}), the classifier and embedding compute
(${net["overheads"]["compute_usd"]:.6f}) and <code>switchyard learn</code>'s judge calls (${net["overheads"]["judge_usd"]:.6f})
and labeling answers (${net["overheads"]["label_answers_usd"]:.6f}), <b>${net["net_saved_usd"]:.6f}</b> net.</p>
<h2>By {html.escape(by)}</h2><table><tr>{head}</tr>{body}</table>
{_bars("Spend per day, by team", days, team_spend)}
{_bars("Spend per day, by tier", tier_days, tier_spend)}
{_bars("Spent and saved per day", [r.group for r in by_day], savings)}
{_bars("Requests per day, by tier", tier_days, tier_requests, unit="requests")}
<h2>Tier mix</h2><table><tr><th>tier</th><th>requests</th><th>share of requests</th><th>spend $</th><th>share of spend</th></tr>
{mix}</table>
</body></html>"""
