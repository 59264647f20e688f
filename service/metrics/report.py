"""GET /metrics/report: one self-contained HTML page for board meetings.

No external assets: styles are inline and the charts are SVG drawn here, so the file
can be mailed, printed or opened offline. It shows the all-students figures, the
closed-loop rate (within 90 days) by group with suppressed groups marked, and a tract
map coloured by access to programs, deserts hatched.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from service.metrics.schemas import AccessReport, DirectoryHealth, MetricsRow, ReferralMetrics

BLUES = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]
RATE = "closed_within_90_days_rate"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _bars(rows: Sequence[MetricsRow], dimension: str, reference: float | None) -> str:
    height, label_w, bar_w = 26, 220, 420
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 90}" '
        f'height="{height * len(rows) + 30}" role="img" '
        f'aria-label="Loop closed within 90 days by {html.escape(dimension)}">'
    ]
    for i, row in enumerate(rows):
        y = 10 + i * height
        name = row.labels.get(dimension) or row.group.get(dimension, "")
        svg.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{html.escape(name)}</text>'
        )
        value = getattr(row, RATE)
        if row.suppressed:
            svg.append(
                f'<text x="{label_w}" y="{y + 17}" class="muted">suppressed (small group)</text>'
            )
        elif value is None:
            shown = row.coded.get(RATE, "not enough students")
            svg.append(
                f'<text x="{label_w}" y="{y + 17}" class="muted">{html.escape(shown)}</text>'
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
            f"all students {_pct(reference)}</text>"
        )
    svg.append("</svg>")
    return "".join(svg)


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    return [ring for polygon in geometry["coordinates"] for ring in polygon]


def _map(report: AccessReport, shapes: dict[str, Any]) -> str:
    """Tracts as SVG paths (equirectangular, x scaled by cos(latitude)), in quintiles."""
    if not shapes:
        return "<p class='muted'>No census tracts are loaded (python -m service load-geodata).</p>"
    points = [p for g in shapes.values() for ring in _rings(g) for p in ring]
    lng0, lng1 = min(p[0] for p in points), max(p[0] for p in points)
    lat0, lat1 = min(p[1] for p in points), max(p[1] for p in points)
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    width = 640
    scale = width / ((lng1 - lng0) * kx)
    height = (lat1 - lat0) * scale

    def xy(p: list[float]) -> str:
        return f"{(p[0] - lng0) * kx * scale:.1f},{(lat1 - p[1]) * scale:.1f}"

    counts = sorted(t.programs for t in report.tracts if t.programs)  # deserts apart
    cuts = [counts[int(len(counts) * q / 5)] for q in range(1, 5)] if counts else []
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        'role="img" aria-label="Programs within reach by census tract">'
        '<defs><pattern id="desert" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fee0d2"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#de2d26" stroke-width="2"/></pattern></defs>'
    ]
    for tract in report.tracts:
        geometry = shapes.get(tract.tract)
        if geometry is None:
            continue
        path = " ".join("M" + " L".join(xy(p) for p in ring) + " Z" for ring in _rings(geometry))
        band = sum(tract.programs >= c for c in cuts)
        fill = "url(#desert)" if tract.programs == 0 else BLUES[band]
        svg.append(
            f'<path d="{path}" fill="{fill}" stroke="#555" stroke-width="0.6">'
            f"<title>{html.escape(tract.name)}: {tract.programs} programs, "
            f"{tract.free_programs} free</title></path>"
        )
    svg.append("</svg>")
    legend = " ".join(f'<span class="key" style="background:{c}"></span>' for c in BLUES)
    return (
        "".join(svg) + f"<p class='muted'>Lighter to darker: fewer to more programs within "
        f"{report.distance_m:,} m (quintiles) {legend} "
        "<span class='key desert'></span> none (program desert)</p>"
    )


def render(
    metrics: ReferralMetrics,
    directory: DirectoryHealth,
    access: AccessReport,
    shapes: dict[str, Any],
    dimension: str,
) -> str:
    everyone = metrics.all_students
    facts = [
        ("Referrals", "-" if everyone.referrals is None else f"{everyone.referrals:,}"),
        ("Students", "-" if everyone.students is None else f"{everyone.students:,}"),
        ("Got help (enrolled)", _pct(everyone.enrollment_rate)),
        ("Loop closed within 90 days", _pct(everyone.closed_within_90_days_rate)),
        ("Median days to first response", str(everyone.median_days_to_first_response or "-")),
        ("Open and overdue", "-" if everyone.open_overdue is None else str(everyone.open_overdue)),
        ("Active programs", f"{directory.active_programs:,}"),
        ("Verified within 180 days", _pct(directory.verified_within_180_days_share)),
        ("Program deserts", f"{len(access.deserts)} of {len(access.tracts)} tracts"),
    ]
    table = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    category = access.category.replace("_", " ") if access.category else "all categories"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Youthlink coordination report {metrics.start} to {metrics.end}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .3rem .8rem; text-align: left;
border-bottom: 1px solid #ddd; }} svg text {{ font: 13px system-ui, sans-serif; }}
.muted {{ fill: #777; color: #666; }} .key {{ display: inline-block; width: 1rem; height: .8rem;
border: 1px solid #555; vertical-align: middle; }}
.key.desert {{ background: repeating-linear-gradient(45deg, #de2d26 0 2px, #fee0d2 2px 6px); }}
</style></head><body>
<h1>Coordination and equity report</h1>
<p>Referrals sent {metrics.start} to {metrics.end}. Groups of fewer than {metrics.min_cell}
students are suppressed, with complementary suppression; no student is named.</p>
<h2>At a glance</h2><table>{table}</table>
<h2>Loop closed within 90 days, by {html.escape(dimension.replace("_", " "))}</h2>
{_bars(metrics.rows, dimension, everyone.closed_within_90_days_rate)}
<h2>Access: {html.escape(category)} within {access.distance_m:,} m of each census tract</h2>
{_map(access, shapes)}
<p class="muted">Tracts are placed at their point on surface. Generated by Youthlink.</p>
</body></html>
"""
