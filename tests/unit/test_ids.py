from __future__ import annotations

import re

from services.common.ids import automation_key, new_reference_id, slack_event_key


def test_slack_event_key_is_stable_for_retries_of_one_event() -> None:
    assert slack_event_key("T1", "Ev1") == slack_event_key("T1", "Ev1") == "slack:T1:Ev1"
    assert slack_event_key("T1", "Ev1") != slack_event_key("T2", "Ev1")


def test_automation_key_joins_kind_and_parts() -> None:
    assert automation_key("software_access", "U1", "acrobat") == "auto:software_access:U1:acrobat"


def test_reference_ids_are_readable_and_distinct() -> None:
    ids = {new_reference_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"ERR-[A-HJ-NP-Z2-9]{8}", ref) for ref in ids)
