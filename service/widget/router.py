"""The family search widget: its ES module under a versioned path, and a demo page.

The module is built from src/ by `make widget` (esbuild bundles it with Leaflet) into
dist/, which the repository does not hold. Neither route is part of the API contract,
so neither is in the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from service.errors import AppError

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "dist" / "youthlink-search.js"
DEMO = HERE / "demo.html"
VERSION = "v1"

router = APIRouter(include_in_schema=False)


class WidgetNotBuilt(AppError):
    status = 503
    code = "widget_not_built"


@router.get(f"/widget/{VERSION}/youthlink-search.js")
async def widget_module() -> FileResponse:
    """The widget. Any page may load it (a module script fetched cross-origin needs CORS)."""
    if not BUNDLE.is_file():
        raise WidgetNotBuilt(
            "The search widget is not built on this server: run `make widget` (Node.js 18+)."
        )
    return FileResponse(
        BUNDLE,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/demo")
async def demo() -> HTMLResponse:
    """A page with the widget on it, as a partner would paste it."""
    return HTMLResponse(DEMO.read_text(encoding="utf-8"))
