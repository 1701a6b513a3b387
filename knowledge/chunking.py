"""Heading-aware chunking of Markdown, HTML and plain text into retrievable passages with stable ids.

A document is split at its headings into sections; each section keeps its heading path
("Resolution > Windows") so that a passage read alone still says where it comes from. Sections longer
than ``max_words`` are split at paragraph boundaries (a numbered list stays whole when it fits);
sections shorter than ``min_words`` are merged into the next one. Chunk ids are ``f"{doc_key}:{n}"``.
all-MiniLM-L6-v2 reads at most 256 word pieces, so the default budget is 180 words.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from connectors.models import ContentType, KnowledgeDocument

DEFAULT_MAX_WORDS = 180
DEFAULT_MIN_WORDS = 25

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+")
_BLANK_RUN = re.compile(r"\n{3,}")


def index_text(title: str, heading_path: str, text: str) -> str:
    """The string both indexes see for a passage: where it comes from, then what it says."""
    header = title if not heading_path else f"{title} — {heading_path}"
    return f"{header}\n{text}"


@dataclass(frozen=True)
class Chunk:
    """A passage of one document.

    ``text`` is the passage as written (Markdown); ``index_text`` adds the title and heading path and is
    what both indexes see; ``content_hash`` is the SHA-256 of ``index_text`` (unchanged hash: no re-embed).
    """

    chunk_id: str
    doc_key: str
    ordinal: int
    title: str
    heading_path: str
    text: str

    @property
    def index_text(self) -> str:
        """Title, heading path and text: the string that is embedded and BM25-indexed."""
        return index_text(self.title, self.heading_path, self.text)

    @property
    def content_hash(self) -> str:
        """SHA-256 hex of ``index_text``."""
        return hashlib.sha256(self.index_text.encode("utf-8")).hexdigest()

    @property
    def word_count(self) -> int:
        """Words in ``text``."""
        return len(self.text.split())


@dataclass
class _Section:
    path: tuple[str, ...]
    lines: list[str]

    @property
    def text(self) -> str:
        return _BLANK_RUN.sub("\n\n", "\n".join(self.lines)).strip()


def html_to_markdown(html: str) -> str:
    """Convert HTML to Markdown with ATX headings and numbered lists kept (scripts and styles dropped)."""
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "noscript"]):
        tag.decompose()
    markdown: str = markdownify(str(soup), heading_style="ATX", bullets="-", strip=["img"])
    return _BLANK_RUN.sub("\n\n", markdown).strip()


def document_markdown(document: KnowledgeDocument) -> str:
    """The document body as Markdown, whatever it was written in."""
    if document.content_type is ContentType.HTML:
        return html_to_markdown(document.body)
    if document.content_type is ContentType.TEXT:
        return document.body.replace("\r\n", "\n").strip()
    return document.body.replace("\r\n", "\n").strip()


def _setext_to_atx(lines: list[str]) -> list[str]:
    """Rewrite "Title\n=====" headings as "# Title" (outside code fences) so one rule finds all headings."""
    out: list[str] = []
    in_fence = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            in_fence = not in_fence
        nxt = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            not in_fence
            and line.strip()
            and _SETEXT.match(nxt)
            and not _LIST_ITEM.match(line)
            and not _HEADING.match(line)
            and "|" not in line
        ):
            out.append(("# " if nxt.startswith("=") else "## ") + line.strip())
            index += 2
            continue
        out.append(line)
        index += 1
    return out


def _split_sections(markdown: str, title: str) -> list[_Section]:
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    current = _Section((), [])
    in_fence = False
    for line in _setext_to_atx(markdown.split("\n")):
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading is None or not heading.group(2).strip():
            current.lines.append(line)
            continue
        level, text = len(heading.group(1)), heading.group(2).strip()
        sections.append(current)
        while path and path[-1][0] >= level:
            path.pop()
        # The document's own top heading (its title, or a longer form of it) adds nothing to the path.
        is_top_heading = level == 1 and not path and not any(section.text for section in sections)
        if not (is_top_heading or text.casefold() == title.casefold()):
            path.append((level, text))
        current = _Section(tuple(t for _, t in path), [])
    sections.append(current)
    return [section for section in sections if section.text]


def _paragraphs(text: str) -> list[str]:
    """Paragraphs, with consecutive list items kept together as one block."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    merged: list[str] = []
    for block in blocks:
        if merged and _LIST_ITEM.match(block) and _LIST_ITEM.match(merged[-1].split("\n")[-1]):
            merged[-1] = f"{merged[-1]}\n{block}"
        else:
            merged.append(block)
    return merged


def _split_words(block: str, max_words: int) -> list[str]:
    """Split an over-long block at line ends first, then at word boundaries."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for line in block.split("\n"):
        words = line.split()
        if count + len(words) > max_words and current:
            pieces.append("\n".join(current))
            current, count = [], 0
        while len(words) > max_words:
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if words:
            current.append(" ".join(words) if len(words) != len(line.split()) else line)
            count += len(words)
    if current:
        pieces.append("\n".join(current))
    return pieces


def _pack(text: str, max_words: int) -> list[str]:
    """Pack paragraphs into pieces of at most ``max_words`` words."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for block in _paragraphs(text):
        words = len(block.split())
        if words > max_words:
            if current:
                pieces.append("\n\n".join(current))
                current, count = [], 0
            pieces.extend(_split_words(block, max_words))
            continue
        if count + words > max_words and current:
            pieces.append("\n\n".join(current))
            current, count = [], 0
        current.append(block)
        count += words
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def chunk_document(
    document: KnowledgeDocument, *, max_words: int = DEFAULT_MAX_WORDS, min_words: int = DEFAULT_MIN_WORDS
) -> list[Chunk]:
    """Split a document into ordered chunks; an empty body gives no chunks."""
    markdown = document_markdown(document)
    sections = _split_sections(markdown, document.title)
    merged: list[_Section] = []
    for section in sections:
        if merged and len(merged[-1].text.split()) < min_words and merged[-1].path[:1] == section.path[:1]:
            previous = merged.pop()
            heading = " > ".join(section.path[len(previous.path) :]) if section.path else ""
            lines = [*previous.lines, "", f"**{heading}**" if heading else "", *section.lines]
            merged.append(_Section(previous.path, lines))
        else:
            merged.append(section)
    chunks: list[Chunk] = []
    for section in merged:
        for piece in _pack(section.text, max_words):
            chunks.append(
                Chunk(
                    chunk_id=f"{document.doc_key}:{len(chunks)}",
                    doc_key=document.doc_key,
                    ordinal=len(chunks),
                    title=document.title,
                    heading_path=" > ".join(section.path),
                    text=piece,
                )
            )
    return chunks
