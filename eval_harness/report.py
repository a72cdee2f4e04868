"""Replay reports: a rich table for the terminal and a self-contained HTML page with SVG charts.

The HTML has no scripts, fonts or links to fetch: the charts are inline SVG written here, so the
file opens offline, attaches to a CI run, and renders the same everywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from eval_harness.replay import Curve, EntryResult, Interval, ReplayReport

# Policies get the saturated colours; the references are grey (random) and orange (oracle), so a
# test can tell every curve apart by colour in a screenshot.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22")
RANDOM_COLOR = "#7f7f7f"
ORACLE_COLOR = "#ff7f0e"
ENDPOINT_COLOR = "#444444"


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _ci(iv: Interval | None, spec: str = ".4f") -> str:
    if iv is None or iv.low is None or iv.high is None:
        return ""
    return f" [{format(iv.low, spec)}, {format(iv.high, spec)}]"


def _shares(e: EntryResult, spec: str = ".1%") -> str:
    shares = ", ".join(f"{t.tier} {format(t.share, spec)}" for t in e.tiers)
    c = e.cascade
    if c is None:
        return shares
    # A cascade's shares are who answered; how many escalated is what drives its cost.
    return f"answered: {shares}; escalated {format(c.escalation_rate, spec)}{_ci(c.escalation_rate_ci, spec)}"


def print_table(report: ReplayReport, console: Console) -> None:
    conf = f"{report.confidence:.0%} CI" if report.bootstrap else "no CI"
    table = Table(title=f"Replay of {report.evaluated:,} requests ({conf}, {report.bootstrap} bootstrap resamples)")
    table.add_column("router", style="bold")
    table.add_column("classifier", overflow="fold", max_width=28)
    table.add_column("quality", justify="right")
    table.add_column("retained", justify="right")
    table.add_column("$ / 1k req", justify="right")
    table.add_column("tiers", overflow="fold")
    table.add_column("APGR", justify="right")
    table.add_column("CPT50", justify="right")
    table.add_column("CPT80", justify="right")
    for e in report.entries:
        pair = e.pair
        table.add_row(
            e.name,
            e.classifier,
            f"{e.quality:.3f}{_ci(e.quality_ci, '.3f')}",
            f"{e.quality_retained:.1%}{_ci(e.quality_retained_ci, '.1%')}",
            f"{e.cost_per_1k:.4g}{_ci(e.cost_per_1k_ci, '.4g')}",
            _shares(e, ".0%"),
            (_fmt(pair.apgr, ".3f") + _ci(pair.apgr_ci, ".3f")) if pair else "-",
            _fmt(pair.cpt50, ".1%") if pair else "-",
            _fmt(pair.cpt80, ".1%") if pair else "-",
        )
    if report.coverage is not None:
        # First, before any figure: the figures describe only the labeled requests.
        console.print(report.coverage.line(), highlight=False)
    console.print(table)
    if report.skipped:
        console.print(f"skipped {report.skipped:,} of {report.rows:,} requests: {report.skipped_reason}", highlight=False)
    for model, note in report.token_usage.items():
        console.print(f"tokens for {model}: {note}", highlight=False)
    for e in report.entries:
        for note in e.notes:
            console.print(f"{e.name}: {note}", highlight=False)


# --------------------------------------------------------------------------- SVG


@dataclass
class Series:
    name: str
    color: str
    xs: Sequence[float]
    ys: Sequence[float]
    dash: str = ""
    width: float = 3.0


@dataclass
class Marker:
    label: str
    color: str
    x: float
    y: float
    shape: str = "circle"


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _range(values: Sequence[float], pad: float = 0.04) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 if lo else -0.5, hi + 0.5 if hi else 0.5
    span = hi - lo
    return lo - pad * span, hi + pad * span


def svg_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    markers: Sequence[Marker],
    *,
    width: int = 470,
    height: int = 360,
    x_format: str = ".0%",
    y_format: str = ".2f",
    css_class: str = "chart",
) -> str:
    left, right, top, bottom = 62, 16, 34, 50
    pw, ph = width - left - right, height - top - bottom
    x_lo, x_hi = _range([v for s in series for v in s.xs] + [m.x for m in markers])
    y_lo, y_hi = _range([v for s in series for v in s.ys] + [m.y for m in markers])

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y_lo) / (y_hi - y_lo) * ph

    out = [
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<rect class="plot-area" x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#ffffff" stroke="#cccccc"/>',
    ]
    for t in _nice_ticks(x_lo, x_hi):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#eeeeee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{format(t, x_format)}</text>')
    for t in _nice_ticks(y_lo, y_hi):
        y = sy(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eeeeee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{format(t, y_format)}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 12}" text-anchor="middle" font-size="12">{html.escape(x_label)}</text>')
    out.append(
        f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + ph / 2:.1f})">{html.escape(y_label)}</text>'
    )
    for s in series:
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(s.xs, s.ys, strict=True) if math.isfinite(x) and math.isfinite(y))
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(
            f'<polyline class="curve" data-name="{html.escape(s.name)}" points="{points}" fill="none" '
            f'stroke="{s.color}" stroke-width="{s.width}"{dash} stroke-linejoin="round"/>'
        )
    for m in markers:
        x, y = sx(m.x), sy(m.y)
        if m.shape == "square":
            out.append(
                f'<rect class="marker" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{m.color}">'
                f"<title>{html.escape(m.label)}</title></rect>"
            )
        else:
            out.append(
                f'<circle class="operating-point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{m.color}" stroke="#000000" stroke-width="1.5">'
                f"<title>{html.escape(m.label)}</title></circle>"
            )
    # Legend inside the plot's lower-right corner, where quality-cost curves rarely go.
    legend = list(series)
    lx, ly = left + pw - 170, top + ph - 12 - 16 * len(legend)
    out.append(
        f'<rect x="{lx - 6}" y="{ly - 12}" width="172" height="{16 * len(legend) + 6}" '
        'fill="#ffffff" fill-opacity="0.85" stroke="#dddddd"/>'
    )
    for i, s in enumerate(legend):
        y = ly + 16 * i
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(f'<line x1="{lx}" y1="{y - 4}" x2="{lx + 18}" y2="{y - 4}" stroke="{s.color}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{lx + 24}" y="{y}" font-size="11">{html.escape(s.name[:26])}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _entry_colors(report: ReplayReport) -> dict[str, str]:
    routed = [e for e in report.entries if e.kind in ("policy", "classifier")]
    return {e.name: PALETTE[i % len(PALETTE)] for i, e in enumerate(routed)}


def _curve_series(name: str, color: str, curve: Curve, x: str, dash: str = "", width: float = 3.0) -> Series:
    xs = curve.share if x == "share" else curve.cost_per_1k
    return Series(name, color, xs, curve.quality, dash, width)


def charts(report: ReplayReport) -> tuple[str, str]:
    """(quality vs strong share, quality vs cost) SVGs: policy curves, references, operating points."""
    colors = _entry_colors(report)
    out = []
    for axis in ("share", "cost"):
        series: list[Series] = []
        markers: list[Marker] = []
        if report.random_curve is not None:
            series.append(_curve_series("random (expected)", RANDOM_COLOR, report.random_curve, axis, dash="8 5", width=2.5))
        if report.oracle_curve is not None:
            series.append(_curve_series("oracle", ORACLE_COLOR, report.oracle_curve, axis, dash="2 3", width=2.5))
        for e in report.entries:
            color = colors.get(e.name)
            if color is None:
                if e.kind in ("always-weak", "always-strong"):
                    x = e.pair.strong_share if (axis == "share" and e.pair) else e.cost_per_1k
                    markers.append(
                        Marker(f"{e.name}: quality {e.quality:.4f}, ${e.cost_per_1k:.4f}/1k", ENDPOINT_COLOR, x, e.quality, "square")
                    )
                continue
            if e.curve is not None:
                series.append(_curve_series(f"{e.name}", color, e.curve, axis))
            label = f"{e.name} operating point: quality {e.quality:.4f}, ${e.cost_per_1k:.4f}/1k"
            if axis == "cost":
                markers.append(Marker(label, color, e.cost_per_1k, e.quality))
            elif e.pair is not None and all(t.model in (e.pair.weak, e.pair.strong) for t in e.tiers):
                # Only a policy routed purely between the pair has a meaningful place on this axis.
                markers.append(Marker(label, color, e.pair.strong_share, e.quality))
        if axis == "share":
            out.append(
                svg_chart(
                    "Quality vs share of strong-model calls",
                    "share of requests sent to the strong model",
                    "quality",
                    series,
                    markers,
                    css_class="chart chart-share",
                )
            )
        else:
            out.append(
                svg_chart(
                    "Quality vs cost", "US$ per 1,000 requests", "quality", series, markers, x_format=".3g", css_class="chart chart-cost"
                )
            )
    return out[0], out[1]


_CSS = """
body { font-family: sans-serif; margin: 16px; color: #111; background: #fff; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
table { border-collapse: collapse; margin-top: 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; font-size: 12px; }
"""


_HEADER = "".join(
    f"<th>{h}</th>"
    for h in ("router", "classifier", "quality", "retained", "$ / 1k req", "total $", "tiers", "APGR", "CPT(50%)", "CPT(80%)")
)


def _cell(value: str) -> str:
    return f"<td>{html.escape(value)}</td>"


def render_html(report: ReplayReport, gate: Sequence[str] | None = None, title: str = "Switchyard replay report", preface: str = "") -> str:
    """The page; ``preface`` (trusted HTML, e.g. the learning loop's decision) goes after the coverage line."""
    share_svg, cost_svg = charts(report)
    rows = []
    for e in report.entries:
        pair = e.pair
        rows.append(
            "<tr>"
            + _cell(e.name)
            + _cell(e.classifier)
            + _cell(f"{e.quality:.4f}{_ci(e.quality_ci)}")
            + _cell(f"{e.quality_retained:.2%}{_ci(e.quality_retained_ci, '.2%')}")
            + _cell(f"{e.cost_per_1k:.4f}{_ci(e.cost_per_1k_ci)}")
            + _cell(f"{e.cost_usd:.4f}")
            + _cell(_shares(e))
            + _cell((_fmt(pair.apgr, ".3f") + _ci(pair.apgr_ci, ".3f")) if pair else "-")
            + _cell(_fmt(pair.cpt50, ".1%") if pair else "-")
            + _cell(_fmt(pair.cpt80, ".1%") if pair else "-")
            + "</tr>"
        )
    notes = [f"tokens for {m}: {n}" for m, n in report.token_usage.items()]
    notes += [f"{e.name}: {n}" for e in report.entries for n in e.notes]
    if report.skipped:
        notes.insert(0, f"skipped {report.skipped:,} of {report.rows:,} requests: {report.skipped_reason}")
    gate_html = ""
    if gate is not None:
        gate_html = (
            "<p><b>Quality gate: passed</b></p>"
            if not gate
            else "<p><b>Quality gate: failed</b></p><ul>" + "".join(f"<li>{html.escape(g)}</li>" for g in gate) + "</ul>"
        )
    cascade_note = ""
    if any(e.cascade is not None for e in report.entries):
        cascade_note = (
            "\na cascade's curve: its quality and cost at every min_confidence from 0 to 1 (share: requests that reached its last stage);"
        )
    ci = (
        f"{report.confidence:.0%} bootstrap intervals over distinct prompts, {report.bootstrap} resamples"
        if report.bootstrap
        else "no intervals"
    )
    coverage_html = f'<p id="coverage"><b>{html.escape(report.coverage.line())}</b></p>' if report.coverage is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1 style="font-size:18px;margin:0 0 8px 0">{html.escape(title)}</h1>
{coverage_html}
{preface}
<div class="charts">
{share_svg}
{cost_svg}
</div>
<p class="note">Curves: quality when the requests with the highest route scores go to the strong model, at every share;{cascade_note}
circles: each policy's operating point; squares: always-weak / always-strong. Data: {html.escape(report.data)},
{report.evaluated:,} requests evaluated; {ci}.</p>
{gate_html}
<table>
<tr>{_HEADER}</tr>
{"".join(rows)}
</table>
<ul class="note">{"".join(f"<li>{html.escape(n)}</li>" for n in notes)}</ul>
</body></html>
"""
