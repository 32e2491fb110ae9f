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
    state = request.app.state
    return HTMLResponse(
        _page(state.chat_demo, state.chat_registration), headers={"Cache-Control": "no-cache"}
    )


@lru_cache(maxsize=4)
def _page(demo: bool, registration: bool) -> str:
    """index.html, telling the script which sign-ins exist (no inline script: CSP)."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    html = html.replace('data-demo="false"', f'data-demo="{"true" if demo else "false"}"')
    return html.replace(
        'data-registration="false"', f'data-registration="{"true" if registration else "false"}"'
    )


def install(app: FastAPI, *, demo: bool, registration: bool = False) -> None:
    """Serve `/` and `/static/*`; `demo` shows the dev sign-in, `registration` the sign-up."""
    app.state.chat_demo = demo
    app.state.chat_registration = registration
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
