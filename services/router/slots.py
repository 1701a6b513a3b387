"""Slot extraction for automations: software (fuzzy, against the catalog), systems, ticket numbers,
hardware items, resources, dates and free text.

Each extractor returns ``None`` when it finds nothing; the orchestrator then asks the slot's prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from services.router.catalog import CATALOG_DIR, SlotKind, SlotSpec

SOFTWARE_CATALOG = CATALOG_DIR / "software.yaml"
FUZZY_MIN_SCORE = 86

_TICKET = re.compile(
    r"\b(?:(?:INC|REQ|RITM|SR|CHG|TASK)\d{5,10}|(?:HD|IT|ITSM|SD)-\d{1,8}|[A-Z][A-Z0-9]{1,9}-\d{1,8})\b"
)
_SYSTEMS: dict[str, tuple[str, ...]] = {
    "okta": ("okta", "sso", "single sign-on", "single sign on", "main sign-in", "main login"),
    "vpn": ("vpn", "globalprotect", "global protect"),
    "email": ("email", "e-mail", "outlook", "exchange", "mailbox"),
    "windows": ("windows", "laptop login", "pc login", "computer login", "domain account"),
    "mac": ("mac login", "macbook", "filevault"),
    "jira": ("jira",),
    "confluence": ("confluence",),
    "salesforce": ("salesforce", "sfdc"),
    "github": ("github",),
    "aws": ("aws", "amazon web services"),
    "workday": ("workday",),
    "netsuite": ("netsuite",),
    "slack": ("slack",),
    "zoom": ("zoom",),
}
_HARDWARE: dict[str, tuple[str, ...]] = {
    "monitor": ("monitor", "screen", "display"),
    "keyboard": ("keyboard",),
    "mouse": ("mouse", "trackpad"),
    "headset": ("headset", "headphones", "earbuds"),
    "docking station": ("dock", "docking station", "usb-c hub", "hub"),
    "laptop": ("laptop", "macbook", "notebook", "computer"),
    "charger": ("charger", "power adapter", "power supply", "charging cable"),
    "webcam": ("webcam", "camera"),
    "phone": ("phone", "mobile", "iphone", "android"),
}
_RESOURCE = re.compile(
    r"\b(?:access|added|add me|permission|permissions|membership)\b.*?"
    r"\b(?:to|for|on|in)\s+(?:the\s+)?(.+?)(?:[.?!]|$)",
    re.IGNORECASE,
)


class SoftwareTitle(BaseModel):
    """One title of the software catalog."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    approval: str = "manager"
    license_group: str | None = None


class SoftwareCatalog(BaseModel):
    """The software catalog file."""

    software: list[SoftwareTitle]


@dataclass(frozen=True)
class SoftwareMatch:
    """A catalog title matched in a message, with the fuzzy score (0–100)."""

    title: SoftwareTitle
    score: float


@lru_cache(maxsize=4)
def load_software_catalog(path: Path = SOFTWARE_CATALOG) -> SoftwareCatalog:
    """The software catalog (cached)."""
    import yaml

    return SoftwareCatalog.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9+#. ]", " ", text.lower())).strip()


def match_software(text: str, catalog: SoftwareCatalog | None = None) -> SoftwareMatch | None:
    """The catalog title a message names, tolerant of typos and aliases; None when nothing is close."""
    from rapidfuzz import fuzz

    catalog = catalog or load_software_catalog()
    message = f" {_normalise(text)} "
    words = message.split()
    best: SoftwareMatch | None = None
    for title in catalog.software:
        for name in [title.name, *title.aliases]:
            candidate = _normalise(name)
            if not candidate:
                continue
            if f" {candidate} " in message:
                score = 100.0 + len(candidate) / 100  # exact, longer names win ("acrobat pro" over "acrobat")
            elif len(candidate) < 4:
                continue  # short aliases ("ps") only match exactly
            else:
                size = len(candidate.split())
                windows = [" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))]
                score = max((fuzz.ratio(candidate, window) for window in windows), default=0.0)
            if score >= FUZZY_MIN_SCORE and (best is None or score > best.score):
                best = SoftwareMatch(title, score)
    return best


def extract_ticket_number(text: str) -> str | None:
    """A ticket key such as INC0012345, HD-1234 or IT-482."""
    match = _TICKET.search(text.upper())
    return match.group(0) if match else None


def _keyword(text: str, table: dict[str, tuple[str, ...]]) -> str | None:
    lowered = f" {text.lower()} "
    for value, keywords in table.items():
        if any(re.search(rf"(?<![a-z]){re.escape(k)}(?![a-z])", lowered) for k in keywords):
            return value
    return None


def extract_system(text: str) -> str | None:
    """The system an account request is about (okta, vpn, email, jira...)."""
    return _keyword(text, _SYSTEMS)


def extract_hardware_item(text: str) -> str | None:
    """The hardware item asked for (monitor, keyboard, headset, docking station...)."""
    return _keyword(text, _HARDWARE)


def extract_resource(text: str) -> str | None:
    """What access is requested to ("the finance shared drive", "the #sales mailbox")."""
    match = _RESOURCE.search(text)
    if not match:
        return None
    resource = match.group(1).strip(" \"'")
    return resource[:200] if len(resource) >= 2 else None


def extract_date(text: str, *, now: datetime) -> datetime | None:
    """The first date mentioned ("next Friday", "2026-12-01", "tomorrow"), relative to ``now``."""
    from dateparser.search import search_dates

    found = search_dates(
        text,
        languages=["en"],
        settings={"RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "future"},
    )
    if not found:
        return None
    value: datetime = found[0][1]
    return value.replace(tzinfo=now.tzinfo) if value.tzinfo is None else value


def extract_slot(spec: SlotSpec, text: str, *, now: datetime) -> str | None:
    """The value of ``spec`` in ``text`` as a string, or None."""
    if spec.kind is SlotKind.SOFTWARE:
        match = match_software(text)
        return match.title.name if match else None
    if spec.kind is SlotKind.SYSTEM:
        return extract_system(text)
    if spec.kind is SlotKind.TICKET_NUMBER:
        return extract_ticket_number(text)
    if spec.kind is SlotKind.HARDWARE_ITEM:
        return extract_hardware_item(text)
    if spec.kind is SlotKind.RESOURCE:
        return extract_resource(text)
    if spec.kind is SlotKind.DATE:
        found = extract_date(text, now=now)
        return found.date().isoformat() if found else None
    cleaned = text.strip()
    return cleaned[:2000] if len(cleaned.split()) >= 3 else None
