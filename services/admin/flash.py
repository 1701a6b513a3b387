"""One-shot notices carried in the signed session across a POST → redirect → GET (success or failure)."""

from __future__ import annotations

from fastapi import Request

_KEY = "flash"


def flash(request: Request, text: str, *, level: str = "ok") -> None:
    """Show ``text`` on the next page this browser opens (``level`` is ``ok`` or ``error``)."""
    request.session[_KEY] = {"level": level, "text": text[:1000]}


def pop_flash(request: Request) -> dict[str, str] | None:
    """The pending notice, removed from the session, or None."""
    notice = request.session.pop(_KEY, None)
    if isinstance(notice, dict) and isinstance(notice.get("text"), str):
        return {"level": str(notice.get("level", "ok")), "text": notice["text"]}
    return None
