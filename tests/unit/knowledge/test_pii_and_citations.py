from __future__ import annotations

import pytest

from knowledge.acl import Viewer, decode_audience, encode_audience
from knowledge.citations import InvalidCitationError, cited_numbers, resolve_citations
from knowledge.pii import scrub_pii
from knowledge.retrieve import RetrievedChunk
from knowledge.store import IndexedChunk


def test_scrub_pii_replaces_personal_data_and_secrets_and_counts_them() -> None:
    result = scrub_pii(
        "I'm jane.doe@northwind.example, call +1 555-0142 or (555) 014-2233. My password is Hunter2! "
        "Laptop on 10.2.3.4 (mac 00:1a:2b:3c:4d:5e), token xoxb-1234567890-abcdefghij, "
        "card 4111 1111 1111 1111."
    )
    for secret in ("jane.doe", "555-0142", "014-2233", "Hunter2", "10.2.3.4", "00:1a", "xoxb-", "4111"):
        assert secret not in result.text
    assert result.counts == {"EMAIL": 1, "PHONE": 2, "PASSWORD": 1, "IP": 1, "MAC": 1, "SECRET": 1, "CARD": 1}
    assert "My password is [PASSWORD]" in result.text


def test_scrub_pii_leaves_ordinary_helpdesk_text_alone() -> None:
    text = "GlobalProtect 6.2.1 fails with error 0x80070005 on 2026-11-23 at 10:30; ticket INC0012345."
    assert scrub_pii(text).text == text


def _passage(n: int) -> RetrievedChunk:
    chunk = IndexedChunk(f"kb:a{n}:0", "text", f"kb:a{n}", n, f"Article {n}", None, "Steps", frozenset())
    return RetrievedChunk(chunk=chunk, score=0.9, dense=0.8, lexical=None)


def test_citations_resolve_to_the_given_passages() -> None:
    assert cited_numbers("Do this [2]. Then that [1, 2]. Done [2].") == [2, 1]
    citations = resolve_citations("Restart it [2].", [_passage(1), _passage(2)])
    assert [(c.number, c.article_id, c.title) for c in citations] == [(2, 2, "Article 2")]


@pytest.mark.parametrize("text", ["No citation at all.", "See [3].", "See [1] and [0]."])
def test_citations_unresolvable_are_refused(text: str) -> None:
    with pytest.raises(InvalidCitationError):
        resolve_citations(text, [_passage(1), _passage(2)])


def test_viewer_reads_public_and_own_groups_only() -> None:
    assert Viewer().can_read(frozenset())
    assert not Viewer().can_read(frozenset({"finance"}))
    assert Viewer.of(["finance", "sales"]).can_read(frozenset({"finance", "hr"}))
    assert decode_audience(encode_audience(["hr", "finance"])) == {"finance", "hr"}
    assert encode_audience([]) == ""
