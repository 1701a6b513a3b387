from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest

from services.articles.fixtures import CATALOGUE, NOISE, FixtureSet, generate_resolved_tickets
from services.articles.scrub import scrub_text, scrub_ticket
from services.articles.types import ScrubbedTicket, TicketText

SEEDS = (1, 7, 23, 101, 2026)
TECH_TERMS = ("Outlook", "0x80070005", "KB5005565", "Windows 11", "AADSTS50076")
_DOMAIN_WORDS = {"northwind", "example", "corp", "gmail"}
"""Shared by every seeded e-mail address and hostname: not personal on their own."""


@pytest.fixture(scope="module")
def scrubbed_sets() -> list[tuple[FixtureSet, dict[int, ScrubbedTicket]]]:
    sets = [generate_resolved_tickets(seed=seed) for seed in SEEDS]
    return [(fs, {t.ticket_id: scrub_ticket(t) for t in fs.tickets}) for fs in sets]


def _text(ticket: TicketText | ScrubbedTicket) -> str:
    return f"{ticket.title}\n{ticket.description}\n{ticket.resolution}"


def _contains(text: str, value: str) -> bool:
    """``value`` occurs in ``text`` as a whole word (case-insensitive)."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


def _words(text: str, min_length: int = 5) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.casefold()) if len(w) >= min_length}


# --- fixtures ----------------------------------------------------------------------------------------


def test_fixtures_are_deterministic_per_seed() -> None:
    assert generate_resolved_tickets(seed=3) == generate_resolved_tickets(seed=3)
    assert generate_resolved_tickets(seed=3).tickets != generate_resolved_tickets(seed=4).tickets


def test_fixture_sizes_labels_keys_and_dates() -> None:
    fs = generate_resolved_tickets(seed=11, problems=12, tickets_per_problem=(3, 8), noise=10)
    ids = [t.ticket_id for t in fs.tickets]
    assert ids == list(range(1, len(ids) + 1))
    assert set(fs.labels) == set(ids) == set(fs.seeded_pii) == set(fs.steps_used)
    per_label = Counter(fs.labels.values())
    assert per_label.pop(NOISE) == 10
    assert set(per_label) == set(fs.problems) and len(fs.problems) == 12
    assert all(3 <= n <= 8 for n in per_label.values()), per_label
    keys = [t.external_key for t in fs.tickets]
    assert len(set(keys)) == len(keys) and all(re.fullmatch(r"INC00\d{5}", k) for k in keys)
    dates = [t.resolved_at for t in fs.tickets if t.resolved_at is not None]
    assert len(dates) == len(ids) and all(d.tzinfo is not None for d in dates)
    assert timedelta(days=30) < max(dates) - min(dates) <= timedelta(days=60)
    assert all(len(t.people) == 2 and t.category for t in fs.tickets)
    noise_titles = [t.title for t in fs.tickets if fs.labels[t.ticket_id] == NOISE]
    assert len(set(noise_titles)) == len(noise_titles), "one-off tickets should not repeat"


def test_catalogue_has_distinct_problems_with_three_to_six_steps() -> None:
    assert len(CATALOGUE) >= 12
    assert len({p.id for p in CATALOGUE}) == len({p.title for p in CATALOGUE}) == len(CATALOGUE)
    for problem in CATALOGUE:
        assert 3 <= len(problem.steps) <= 6, problem.id
        assert problem.symptom and problem.cause and len(problem.titles) >= 3 and len(problem.symptoms) >= 3


def test_every_problem_can_be_generated_and_bad_arguments_are_refused() -> None:
    fs = generate_resolved_tickets(seed=5, problems=len(CATALOGUE), tickets_per_problem=(2, 2), noise=0)
    assert len(fs.tickets) == 2 * len(CATALOGUE) and NOISE not in fs.labels.values()
    with pytest.raises(ValueError):
        generate_resolved_tickets(problems=len(CATALOGUE) + 1)
    with pytest.raises(ValueError):
        generate_resolved_tickets(tickets_per_problem=(5, 2))


def test_resolutions_hold_at_least_60_percent_of_the_steps_in_order() -> None:
    for seed in SEEDS:
        fs = generate_resolved_tickets(seed=seed)
        for ticket in fs.tickets:
            used = fs.steps_used[ticket.ticket_id]
            if fs.labels[ticket.ticket_id] == NOISE:
                assert used == ()
                continue
            steps = fs.problems[fs.labels[ticket.ticket_id]].steps
            assert len(used) >= 0.6 * len(steps) and list(used) == sorted(set(used))
            resolution = _words(ticket.resolution)
            for index in used:
                key_words = _words(steps[index]) - {"user", "requester"}
                assert len(key_words & resolution) >= 0.5 * len(key_words), (ticket.ticket_id, index)


def test_every_seeded_pii_string_appears_in_its_raw_ticket() -> None:
    checked = 0
    kinds_seen: set[str] = set()
    for seed in SEEDS:
        fs = generate_resolved_tickets(seed=seed)
        for ticket in fs.tickets:
            raw = _text(ticket)
            for value in fs.seeded_pii[ticket.ticket_id]:
                assert value in raw, (seed, ticket.ticket_id, value)
                checked += 1
                kinds_seen.add("email" if "@" in value else "other")
            assert fs.seeded_pii[ticket.ticket_id], f"ticket {ticket.ticket_id} has no personal data"
    assert checked > 500 and kinds_seen == {"email", "other"}


# --- scrubbing ---------------------------------------------------------------------------------------


def test_no_seeded_pii_survives_scrubbing(
    scrubbed_sets: list[tuple[FixtureSet, dict[int, ScrubbedTicket]]],
) -> None:
    checked, leaks, fragments_checked, fragment_leaks = 0, [], 0, []
    for fs, scrubbed in scrubbed_sets:
        for ticket_id, values in fs.seeded_pii.items():
            clean = _text(scrubbed[ticket_id])
            for value in values:
                checked += 1
                if _contains(clean, value):
                    leaks.append((ticket_id, value))
                # no fragment either: "+44 20 [PHONE]" or "[PERSON] González" would be a leak too
                for fragment in re.findall(r"\w{4,}", value):
                    if fragment.casefold() in _DOMAIN_WORDS:
                        continue
                    fragments_checked += 1
                    if _contains(clean, fragment):
                        fragment_leaks.append((ticket_id, value, fragment))
    tickets = sum(len(fs.tickets) for fs, _ in scrubbed_sets)
    summary = (
        f"{checked} seeded PII strings ({fragments_checked} fragments) in {tickets} tickets over "
        f"{len(SEEDS)} seeds: {len(leaks)} leaked, {len(fragment_leaks)} fragments leaked"
    )
    assert checked > 1000, summary
    assert leaks == [], f"{summary}: {leaks[:10]}"
    assert fragment_leaks == [], f"{summary}: {fragment_leaks[:10]}"


def test_report_counts_every_kind_and_matches_the_placeholders(
    scrubbed_sets: list[tuple[FixtureSet, dict[int, ScrubbedTicket]]],
) -> None:
    totals: Counter[str] = Counter()
    for _, scrubbed in scrubbed_sets:
        for ticket in scrubbed.values():
            placeholders = Counter(re.findall(r"\[([A-Z]+)\]", _text(ticket)))
            assert placeholders == Counter(ticket.report), ticket.ticket_id
            totals.update(ticket.report)
    expected = {"PERSON", "EMAIL", "PHONE", "IP", "MAC", "HOST", "SERIAL", "ASSET", "PASSWORD"}
    assert expected | {"SECRET", "USER"} <= set(totals), totals


def test_technical_terms_survive_scrubbing(
    scrubbed_sets: list[tuple[FixtureSet, dict[int, ScrubbedTicket]]],
) -> None:
    seen: Counter[str] = Counter()
    for fs, scrubbed in scrubbed_sets:
        for ticket in fs.tickets:
            raw, clean = _text(ticket), _text(scrubbed[ticket.ticket_id])
            for term in TECH_TERMS:
                assert clean.count(term) == raw.count(term), (ticket.ticket_id, term)
                seen[term] += raw.count(term)
    assert all(seen[term] > 0 for term in TECH_TERMS), seen


def test_product_names_and_error_codes_survive_next_to_personal_data() -> None:
    text = (
        "Hi Anna, Outlook on Windows 11 fails with 0x80070005 after KB5005565; sign-in shows AADSTS50076. "
        "Also CAA20002 in Teams, 0x800CCC0E in Outlook 2016, GlobalProtect 6.2.1, Microsoft 365 Apps build "
        "16.0.17328.20142, Dell WD19TBS dock, event 4740, TLS 1.2, SHA-256, Gi1/0/24, aka.ms/mysecurityinfo, "
        "login.microsoftonline.com, onedrive.exe /reset, mso20win32client.dll. Laptop LT-FIN-0042, "
        "SN: C02XK0ABJGH5, serial 5CG1234XYZ, temp password Welcome123!\nThanks, Tom"
    )
    result = scrub_text(text)
    for term in (
        *TECH_TERMS,
        "CAA20002",
        "0x800CCC0E",
        "Outlook 2016",
        "GlobalProtect 6.2.1",
        "Microsoft 365",
        "16.0.17328.20142",
        "WD19TBS",
        "event 4740",
        "TLS 1.2",
        "SHA-256",
        "Gi1/0/24",
        "aka.ms/mysecurityinfo",
        "login.microsoftonline.com",
        "onedrive.exe /reset",
        "mso20win32client.dll",
    ):
        assert term in result.text, term
    for secret in ("Anna", "Tom", "LT-FIN-0042", "C02XK0ABJGH5", "5CG1234XYZ", "Welcome123!"):
        assert secret not in result.text
    assert result.counts == {"PERSON": 2, "HOST": 1, "SERIAL": 2, "PASSWORD": 1}


def test_canonical_problem_text_is_not_scrubbed() -> None:
    """Over-scrubbing guard: the catalogue's steps, symptoms, causes and titles hold no personal data."""
    changed = []
    for problem in CATALOGUE:
        for text in (*problem.steps, problem.symptom, problem.cause, *problem.titles, *problem.symptoms):
            if scrub_text(text).text != text:
                changed.append(text)
    assert changed == []


def test_resolution_step_words_survive_scrubbing(
    scrubbed_sets: list[tuple[FixtureSet, dict[int, ScrubbedTicket]]],
) -> None:
    present = kept = 0
    for fs, scrubbed in scrubbed_sets:
        for ticket in fs.tickets:
            label = fs.labels[ticket.ticket_id]
            if label == NOISE:
                continue
            step_words = set().union(*(_words(step) for step in fs.problems[label].steps))
            raw_words = step_words & _words(ticket.resolution)
            present += len(raw_words)
            kept += len(raw_words & _words(scrubbed[ticket.ticket_id].resolution))
    survival = kept / present
    assert present > 1000 and survival >= 0.95, f"{kept}/{present} step words survived ({survival:.1%})"


def test_names_are_removed_in_every_form() -> None:
    ticket = TicketText(
        ticket_id=1,
        external_key="INC0000001",
        title="VPN issue for María González",
        description="maria gonzalez here. GONZÁLEZ again. Maria's laptop; Li Wei's too.\n— Priya (IT)",
        resolution=(
            "Hi Anna,\nSpoke with Kofi from Networking; colleague Astrid Nielsen agreed. Called Seán back. "
            "Astrid said the Li-ion battery is fine. A file called Budget.xlsx was open.\nThanks, Tom"
        ),
        people=("María González", "Li Wei", "Seán O'Brien"),
    )
    scrubbed = scrub_ticket(ticket, known_people=["Anna Kowalski", "Zoë Lindqvist"])
    text = _text(scrubbed)
    for name in ("María", "Maria", "maria", "González", "gonzalez", "GONZÁLEZ", "Li Wei", "Wei", "Priya"):
        assert not _contains(text, name), name
    for name in ("Anna", "Kofi", "Astrid", "Nielsen", "Seán", "Tom"):
        assert not _contains(text, name), name
    assert "[PERSON]'s laptop" in text
    assert "Li-ion battery" in text, "a name part under 3 letters is not removed on its own"
    assert "called Budget.xlsx" in text and "(IT)" in text and "Networking" in text
    assert scrubbed.report == {"PERSON": text.count("[PERSON]")}


def test_phone_and_secret_shapes_the_base_scrubber_misses_are_removed_whole() -> None:
    text = (
        "Call +44 20 7946 0958 or +91 98765 43210 or +33 1 42 68 53 00; mobile 07700 900123. "
        "Recovery key 123456-234567-345678-456789-567890-678901-789012-890123. "
        "api_key=3f9a0c1b2d3e4f5a6b7c8d9e0f1a2b3c, switch shows 3c52.821a.4f9e, NORTHWIND\\mgonzalez, "
        "wks-0193.corp.northwind.example and fs01.corp.contoso.com, asset tag NW-004512, S/N PF3AB12C, "
        "password reset to Spring2025#."
    )
    result = scrub_text(text)
    for digit_group in ("7946", "0958", "98765", "43210", "53 00", "900123", "123456", "890123"):
        assert digit_group not in result.text, digit_group
    for value in ("3f9a0c", "3c52", "mgonzalez", "wks-0193", "fs01", "004512", "PF3AB12C", "Spring2025#"):
        assert value not in result.text, value
    assert result.counts == {
        "PHONE": 4,
        "SECRET": 2,
        "MAC": 1,
        "USER": 1,
        "HOST": 2,
        "ASSET": 1,
        "SERIAL": 1,
        "PASSWORD": 1,
    }
