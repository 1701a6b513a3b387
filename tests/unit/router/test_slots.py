from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.router.catalog import SlotKind, SlotSpec
from services.router.slots import (
    extract_date,
    extract_hardware_item,
    extract_resource,
    extract_slot,
    extract_system,
    extract_ticket_number,
    match_software,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("I need Adobe Acrobat Pro for contracts", "Adobe Acrobat Pro"),
        ("can i get acrobat", "Adobe Acrobat Pro"),
        ("please install acrobt", "Adobe Acrobat Pro"),  # typo in the catalog's aliases
        ("need photoshp for the campaign", "Adobe Photoshop"),  # fuzzy
        ("install figma please", "Figma"),
        ("I'd like intellij", "JetBrains IntelliJ IDEA"),
    ],
)
def test_match_software_finds_catalog_titles_with_aliases_and_typos(text: str, title: str) -> None:
    match = match_software(text)
    assert match is not None and match.title.name.startswith(title.split(" IDEA")[0])


def test_match_software_returns_none_for_unknown_titles() -> None:
    assert match_software("I need a quantum flux capacitor app") is None
    assert match_software("my laptop is slow") is None


def test_ticket_numbers_systems_hardware_and_resources() -> None:
    assert extract_ticket_number("what's up with inc0012345?") == "INC0012345"
    assert extract_ticket_number("status of HD-1234 please") == "HD-1234"
    assert extract_ticket_number("no ticket here") is None
    assert extract_system("reset my okta password") == "okta"
    assert extract_system("locked out of GlobalProtect") == "vpn"
    assert extract_hardware_item("can I get a second monitor") == "monitor"
    assert extract_hardware_item("my docking station died") == "docking station"
    assert extract_resource("I need access to the finance shared drive.") == "finance shared drive"
    assert (
        extract_resource("please add me to the sales-team distribution list")
        == "sales-team distribution list"
    )


def test_extract_date_understands_relative_and_absolute_dates() -> None:
    friday = extract_date("I need it by next Friday", now=NOW)
    assert friday is not None and friday.date().isoformat() == "2026-11-27"
    assert extract_date("starting 2026-12-01", now=NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert extract_date("no date at all here", now=NOW) is None


def test_extract_slot_dispatches_by_kind() -> None:
    assert extract_slot(SlotSpec(name="software", kind=SlotKind.SOFTWARE), "get me figma", now=NOW) == "Figma"
    assert extract_slot(SlotSpec(name="when", kind=SlotKind.DATE), "tomorrow", now=NOW) == "2026-11-24"
    assert extract_slot(SlotSpec(name="d", kind=SlotKind.FREE_TEXT), "ok", now=NOW) is None
    described = "the projector in room 4 flickers"
    assert extract_slot(SlotSpec(name="d", kind=SlotKind.FREE_TEXT), described, now=NOW) == described
