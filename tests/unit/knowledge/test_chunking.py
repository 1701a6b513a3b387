from __future__ import annotations

from connectors.models import ContentType, KnowledgeDocument
from knowledge.chunking import chunk_document, html_to_markdown


def _doc(
    body: str, *, content_type: ContentType = ContentType.MARKDOWN, title: str = "VPN drops"
) -> KnowledgeDocument:
    return KnowledgeDocument(
        source="kb", document_id="vpn.md", title=title, body=body, content_type=content_type
    )


MARKDOWN = """# VPN drops

Intro paragraph about the VPN client and why it matters for remote work here at the company office.

## Symptoms

The VPN disconnects every few minutes on hotel Wi-Fi and the GlobalProtect icon turns grey for a while.

## Resolution

### Windows

1. Open GlobalProtect from the system tray.
2. Select Settings > Connection and change the portal to vpn.northwind.example.
3. Click Connect and sign in with Okta.

```
# not a heading inside a code fence
netsh winsock reset
```

### macOS

1. Open GlobalProtect from the menu bar and quit it completely before reconnecting to the portal again.
"""


def test_chunking_markdown_splits_at_headings_with_heading_paths() -> None:
    chunks = chunk_document(_doc(MARKDOWN), min_words=5)
    assert [c.heading_path for c in chunks] == ["", "Symptoms", "Resolution > Windows", "Resolution > macOS"]
    windows = chunks[2]
    assert "1. Open GlobalProtect from the system tray." in windows.text
    assert "# not a heading inside a code fence" in windows.text  # fenced code is not a heading
    assert windows.index_text.startswith("VPN drops — Resolution > Windows\n")


def test_chunking_ids_are_stable_and_hashes_change_only_with_content() -> None:
    first = chunk_document(_doc(MARKDOWN), min_words=5)
    again = chunk_document(_doc(MARKDOWN), min_words=5)
    assert [c.chunk_id for c in first] == ["kb:vpn.md:0", "kb:vpn.md:1", "kb:vpn.md:2", "kb:vpn.md:3"]
    assert [c.content_hash for c in first] == [c.content_hash for c in again]
    edited = chunk_document(_doc(MARKDOWN.replace("every few minutes", "every hour")), min_words=5)
    changed = [a.chunk_id for a, b in zip(first, edited, strict=True) if a.content_hash != b.content_hash]
    assert changed == ["kb:vpn.md:1"]


def test_chunking_long_section_is_split_under_word_budget_keeping_list_whole() -> None:
    steps = "\n".join(f"{n}. Do step number {n} carefully." for n in range(1, 8))
    prose = "\n\n".join("word " * 60 for _ in range(4))
    chunks = chunk_document(_doc(f"## Steps\n\n{prose}\n\n{steps}\n"), max_words=100, min_words=5)
    assert all(c.word_count <= 100 for c in chunks)
    assert any(steps in c.text for c in chunks)
    assert all(c.heading_path == "Steps" for c in chunks)


def test_chunking_small_sections_merge_into_the_next() -> None:
    chunks = chunk_document(
        _doc("## Steps\n\nShort.\n\n### Windows\n\n" + "Use the tray icon. " * 10), min_words=25
    )
    assert len(chunks) == 1
    assert "Short." in chunks[0].text and "**Windows**" in chunks[0].text


def test_chunking_html_keeps_headings_and_lists_and_drops_scripts() -> None:
    html = (
        "<html><head><title>t</title><script>steal()</script></head><body><h1>VPN drops</h1>"
        "<h2>Steps</h2><ol><li>Open GlobalProtect</li><li>Click Connect</li></ol></body></html>"
    )
    assert "steal" not in html_to_markdown(html)
    chunks = chunk_document(_doc(html, content_type=ContentType.HTML), min_words=1)
    assert [c.heading_path for c in chunks] == ["Steps"]
    assert "1. Open GlobalProtect" in chunks[0].text and "2. Click Connect" in chunks[0].text


def test_chunking_plain_text_and_empty_documents() -> None:
    assert len(chunk_document(_doc("just some text " * 5, content_type=ContentType.TEXT))) == 1
    assert chunk_document(_doc("   \n\n ")) == []


def test_chunking_setext_headings_are_recognised() -> None:
    chunks = chunk_document(_doc("Symptoms\n--------\n\n" + "It fails. " * 30), min_words=5)
    assert chunks[0].heading_path == "Symptoms"
