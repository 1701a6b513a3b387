"""The web app's knowledge index and Markdown renderer, shared by the pages that publish or preview."""

from __future__ import annotations

import threading

from fastapi import Request
from markdown_it import MarkdownIt

from knowledge.index import KnowledgeIndex

_open_lock = threading.Lock()

# Raw HTML in article bodies is not rendered: Markdown only (no script injection from an editor or a source).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def knowledge_index(request: Request) -> KnowledgeIndex:
    """The process's knowledge index, opened on first use and kept in ``app.state`` (tests may set one)."""
    state = request.app.state
    if getattr(state, "knowledge_index", None) is None:
        with _open_lock:  # two first requests at once must not open two Chroma clients
            if getattr(state, "knowledge_index", None) is None:
                from knowledge.index import open_knowledge_index

                state.knowledge_index = open_knowledge_index(state.settings)
    return state.knowledge_index  # type: ignore[no-any-return]


def render_markdown(text: str) -> str:
    """Safe HTML for Markdown written by editors or synced from a source (raw HTML is escaped)."""
    return str(_markdown.render(text))
