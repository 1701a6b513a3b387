"""Slack mrkdwn: escaping and conversion from the Markdown our articles and answers are written in."""

from __future__ import annotations

import re

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_text(text: str) -> str:
    """Link labels may not contain ``|`` or ``>`` (they would end the link)."""
    return escape(text).replace("|", "¦")


def markdown_to_mrkdwn(markdown: str) -> str:
    """Convert CommonMark-ish Markdown to Slack mrkdwn, escaping everything else.

    Headings become bold lines, ``**bold**`` becomes ``*bold*``, ``[text](url)`` becomes ``<url|text>``;
    code spans are kept as they are (escaped); numbered and bulleted lists pass through.
    """
    parts = _CODE_SPAN.split(markdown)
    return "".join(escape(part) if index % 2 else _convert_prose(part) for index, part in enumerate(parts))


def _convert_prose(part: str) -> str:
    """Convert one stretch of Markdown that holds no code span."""
    links: list[str] = []

    def stash(match: re.Match[str]) -> str:
        links.append(f"<{match.group(2).replace('&', '&amp;')}|{_link_text(match.group(1))}>")
        return f"\x00{len(links) - 1}\x00"

    text = escape(_LINK.sub(stash, part))
    text = _HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)


def truncate(text: str, limit: int, *, suffix: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters at a line or word boundary, never inside a link."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - len(suffix))
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit - len(suffix))
    if cut < limit // 2:
        cut = limit - len(suffix)
    head = text[:cut]
    if head.count("<") > head.count(">"):  # do not leave a half link
        head = head[: head.rfind("<")]
    return head.rstrip() + suffix
