"""GET /metrics/report: one self-contained HTML page for board meetings, in English or
Spanish.

No external assets: styles are inline, the charts are SVG drawn here, and the data
downloads are data: URIs, so the file can be mailed, printed or opened offline. It shows
the all-students figures; the loop closed within 90 days for every group, in reporting
order, with its gap to all students and, for a withheld group, why; what the fallback did
(groups combined, years pooled); and a tract map coloured by access, each tract labelled,
the legend with its ranges, deserts hatched.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from service.metrics.csv_out import to_csv
from service.metrics.dimensions import Dimension
from service.metrics.labels import DIMENSIONS, Lang, value_label
from service.metrics.report_text import TEXT
from service.metrics.schemas import AccessReport, DirectoryHealth, MetricsRow, ReferralMetrics

BLUES = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]
RATE = "closed_within_90_days_rate"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _label(row: MetricsRow, dimension: Dimension, lang: Lang) -> str:
    value = row.group.get(dimension.value, "")
    return value_label(dimension, value, lang, row.labels.get(dimension.value))


def _why(row: MetricsRow, t: dict[str, str], min_cell: int) -> str:
    if row.suppressed:
        key = "complementary" if row.suppression == "complementary" else "small_cell"
        return t[key].format(min_cell=min_cell)
    return row.coded.get(RATE) or t["too_few"]


def _bars(
    rows: Sequence[MetricsRow],
    dimension: Dimension,
    reference: float | None,
    lang: Lang,
    min_cell: int,
) -> str:
    t = TEXT[lang]
    height, label_w, bar_w = 26, 260, 380
    title = t["by"].format(dimension=DIMENSIONS[lang][dimension])
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 120}" '
        f'height="{height * len(rows) + 30}" role="img" aria-label="{html.escape(title)}">'
    ]
    for i, row in enumerate(rows):
        y = 10 + i * height
        svg.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
            f"{html.escape(_label(row, dimension, lang))}</text>"
        )
        value = None if row.suppressed else getattr(row, RATE)
        if value is None:
            svg.append(
                f'<text x="{label_w}" y="{y + 17}" class="muted">'
                f"{html.escape(_why(row, t, min_cell))}</text>"
            )
        else:
            width = max(1.0, value * bar_w)
            svg.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{height - 8}" '
                f'fill="#3182bd"><title>{_pct(value)}</title></rect>'
                f'<text x="{label_w + width + 6:.1f}" y="{y + 17}">{_pct(value)}</text>'
            )
    if reference is not None:
        x = label_w + reference * bar_w
        svg.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{height * len(rows) + 14}" '
            'stroke="#d62728" stroke-dasharray="4 3"/>'
            f'<text x="{x + 4:.1f}" y="{height * len(rows) + 26}" fill="#d62728">'
            f"{html.escape(t['all_students'].format(rate=_pct(reference)))}</text>"
        )
    svg.append("</svg>")
    return "".join(svg)


def _groups_table(
    rows: Sequence[MetricsRow], dimension: Dimension, lang: Lang, min_cell: int
) -> str:
    """Every group: students, the rate, the gap to all students, or why it is withheld."""
    t = TEXT[lang]
    body = []
    for row in rows:
        rate = None if row.suppressed else getattr(row, RATE)
        gap = row.gaps_pp.get(RATE)
        cells = (
            [str(row.students), _pct(rate), t["pp"].format(value=gap) if gap is not None else "-"]
            if rate is not None
            else [
                "-" if row.students is None else str(row.students),
                f'<span class="muted">{html.escape(_why(row, t, min_cell))}</span>',
                "-",
            ]
        )
        tds = "".join(f"<td>{c if c.startswith('<span') else html.escape(c)}</td>" for c in cells)
        body.append(
            f"<tr><th scope='row'>{html.escape(_label(row, dimension, lang))}</th>{tds}</tr>"
        )
    head = "".join(
        f"<th scope='col'>{html.escape(h)}</th>"
        for h in (t["group"], t["students"], t["rate"], t["gap"])
    )
    rows_html = "".join(body)
    return f"<table class='groups'><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"


def _fallback_notes(metrics: ReferralMetrics, lang: Lang) -> str:
    t = TEXT[lang]
    notes = []
    for name, values in metrics.collapsed.items():
        dimension = Dimension(name)
        labels = ", ".join(value_label(dimension, v, lang) for v in values)
        notes.append(t["collapsed"].format(values=labels))
    for asked, coarser in metrics.coarsened.items():
        notes.append(
            t["coarsened"].format(
                asked=DIMENSIONS[lang][Dimension(asked)],
                coarser=DIMENSIONS[lang][Dimension(coarser)],
            )
        )
    if metrics.pooled is not None:
        p = metrics.pooled
        notes.append(t["pooled"].format(start=p.start, end=p.end, asked=p.requested_from))
    return "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    return [ring for polygon in geometry["coordinates"] for ring in polygon]


def _quintiles(report: AccessReport) -> tuple[list[int], list[tuple[int, int] | None]]:
    """The four cuts between five colour bands of programs in reach (deserts apart), and
    each band's range (lo, hi) of the tracts in it, None for an empty band."""
    counts = sorted(t.programs for t in report.tracts if t.programs)
    if not counts:
        return [], []
    cuts = [counts[int(len(counts) * q / 5)] for q in range(1, 5)]
    members: list[list[int]] = [[] for _ in range(5)]
    for c in counts:
        members[_band(c, cuts)].append(c)
    return cuts, [(m[0], m[-1]) if m else None for m in members]


def _band(programs: int, cuts: list[int]) -> int:
    return sum(programs >= cut for cut in cuts)


def _map(report: AccessReport, shapes: dict[str, Any], lang: Lang) -> str:
    """Tracts as SVG paths (equirectangular, x scaled by cos(latitude)), in quintiles,
    each labelled with its tract number at its point on surface."""
    t = TEXT[lang]
    if not shapes:
        return f"<p class='muted'>{html.escape(t['no_tracts'])}</p>"
    points = [p for g in shapes.values() for ring in _rings(g) for p in ring]
    lng0, lng1 = min(p[0] for p in points), max(p[0] for p in points)
    lat0, lat1 = min(p[1] for p in points), max(p[1] for p in points)
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    width = 680
    scale = width / ((lng1 - lng0) * kx)
    height = (lat1 - lat0) * scale

    def x_of(lng: float) -> float:
        return (lng - lng0) * kx * scale

    def y_of(lat: float) -> float:
        return (lat1 - lat) * scale

    def xy(p: list[float]) -> str:
        return f"{x_of(p[0]):.1f},{y_of(p[1]):.1f}"

    cuts, bands = _quintiles(report)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'role="img" aria-label="{html.escape(t["legend"])}">'
        '<defs><pattern id="desert" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fee0d2"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#de2d26" stroke-width="2"/></pattern></defs>'
    ]
    labels = []
    for tract in report.tracts:
        geometry = shapes.get(tract.tract)
        if geometry is None:
            continue
        path = " ".join("M" + " L".join(xy(p) for p in ring) + " Z" for ring in _rings(geometry))
        band = _band(tract.programs, cuts)
        fill = "url(#desert)" if tract.programs == 0 else BLUES[band]
        svg.append(
            f'<path d="{path}" fill="{fill}" stroke="#555" stroke-width="0.6">'
            f"<title>{html.escape(tract.name)}: {tract.programs} programs, "
            f"{tract.free_programs} free</title></path>"
        )
        number = tract.name.removeprefix("Census Tract ")
        ink = "#fff" if tract.programs and band >= 3 else "#222"
        labels.append(
            f'<text class="tract" x="{x_of(tract.longitude):.1f}" y="{y_of(tract.latitude):.1f}" '
            f'text-anchor="middle" fill="{ink}">{html.escape(number)}</text>'
        )
    svg += labels
    svg.append("</svg>")
    keys = []
    for colour, span_of in zip(BLUES, bands, strict=False):
        if span_of is None:
            continue
        lo, hi = span_of
        span = str(lo) if lo == hi else f"{lo}-{hi}"
        keys.append(f'<span class="key" style="background:{colour}"></span> {span}')
    keys.append(f'<span class="key desert"></span> 0: {html.escape(t["desert"])}')
    return (
        "".join(svg)
        + f"<p class='legend'><strong>{html.escape(t['legend'])}</strong> "
        + " &nbsp; ".join(keys)
        + "</p>"
    )


def _downloads(metrics: ReferralMetrics, geojson: dict[str, Any], lang: Lang) -> str:
    """The tables behind the page, as files inside it (data: URIs: nothing is fetched)."""
    t = TEXT[lang]
    rows = [metrics.all_students, *metrics.rows, *metrics.totals]
    csv = to_csv(rows, first=[f"group.{d.value}" for d in metrics.group_by])
    links = [
        ("text/csv", csv, "youthlink-outcomes-by-group.csv", t["csv"]),
        (
            "application/geo+json",
            json.dumps(geojson, separators=(",", ":")),
            "youthlink-access-by-tract.geojson",
            t["geojson"],
        ),
    ]
    items = "".join(
        f'<li><a download="{name}" href="data:{kind};charset=utf-8,{quote(body)}">'
        f"{html.escape(text)}</a></li>"
        for kind, body, name, text in links
    )
    return f"<h2>{html.escape(t['downloads'])}</h2><ul>{items}</ul>"


def render(
    metrics: ReferralMetrics,
    directory: DirectoryHealth,
    access: AccessReport,
    shapes: dict[str, Any],
    geojson: dict[str, Any],
    lang: Lang = "en",
) -> str:
    t = TEXT[lang]
    dimension = metrics.group_by[0]
    everyone = metrics.all_students
    facts = [
        (t["referrals"], "-" if everyone.referrals is None else f"{everyone.referrals:,}"),
        (t["students"], "-" if everyone.students is None else f"{everyone.students:,}"),
        (t["got_help"], _pct(everyone.enrollment_rate)),
        (t["closed_90"], _pct(everyone.closed_within_90_days_rate)),
        (t["median_response"], str(everyone.median_days_to_first_response or "-")),
        (t["overdue"], "-" if everyone.open_overdue is None else str(everyone.open_overdue)),
        (t["active"], f"{directory.active_programs:,}"),
        (t["verified"], _pct(directory.verified_within_180_days_share)),
        (t["deserts"], t["deserts_of"].format(n=len(access.deserts), total=len(access.tracts))),
    ]
    table = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    category = (
        value_label(Dimension.program_category, access.category, lang)
        if access.category
        else t["all_categories"]
    )
    heading = t["by"].format(dimension=DIMENSIONS[lang][dimension])
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>Youthlink: {html.escape(t["title"])} {metrics.start} - {metrics.end}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 62rem; color: #222; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .3rem .8rem; text-align: left;
border-bottom: 1px solid #ddd; }} svg text {{ font: 13px system-ui, sans-serif; }}
svg text.tract {{ font-size: 9px; }} .note {{ background: #f3f4f6; padding: .4rem .7rem; }}
.muted {{ fill: #666; color: #555; }} .key {{ display: inline-block; width: 1rem; height: .8rem;
border: 1px solid #555; vertical-align: middle; }}
.key.desert {{ background: repeating-linear-gradient(45deg, #de2d26 0 2px, #fee0d2 2px 6px); }}
</style></head><body>
<h1>{html.escape(t["title"])}</h1>
<p>{html.escape(t["period"].format(year=metrics.school_year, start=metrics.start, end=metrics.end))}
{html.escape(t["privacy"].format(min_cell=metrics.min_cell))}</p>
<h2>{html.escape(t["glance"])}</h2><table>{table}</table>
<h2>{html.escape(heading)}</h2>
{_fallback_notes(metrics, lang)}
{_bars(metrics.rows, dimension, everyone.closed_within_90_days_rate, lang, metrics.min_cell)}
{_groups_table(metrics.rows, dimension, lang, metrics.min_cell)}
<h2>{html.escape(t["access"].format(category=category, distance=f"{access.distance_m:,}"))}</h2>
{_map(access, shapes, lang)}
{_downloads(metrics, geojson, lang)}
<p class="muted">{html.escape(t["placed"])}</p>
</body></html>
"""
