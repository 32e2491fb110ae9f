"""The chat page: plain HTML, CSS and JS served by the API itself (no CDN, no build step)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> HTMLResponse:
    """The chat application."""
    return HTMLResponse(_page(request.app.state.chat_demo), headers={"Cache-Control": "no-cache"})


@lru_cache(maxsize=2)
def _page(demo: bool) -> str:
    """index.html, telling the script whether the demo sign-in exists (no inline script: CSP)."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return html.replace('data-demo="false"', f'data-demo="{"true" if demo else "false"}"')


def install(app: FastAPI, *, demo: bool) -> None:
    """Serve `/` and `/static/*`; `demo` shows the development sign-in button."""
    app.state.chat_demo = demo
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
