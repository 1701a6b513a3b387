"""PII scrubbing for text that leaves our trust boundary (LLM prompts) or becomes shared content.

Replaces e-mail addresses, phone numbers, IP and MAC addresses, card-like numbers, secrets (API tokens,
``password: ...`` values) with typed placeholders such as ``[EMAIL]`` and counts what it replaced.
Person names and hostnames need context; the article pipeline adds those rules on top of these.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "SECRET",
        re.compile(
            r"\b(?:xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|"
            r"AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})\b"
        ),
    ),
    ("PASSWORD", re.compile(r"(?i)\b(pass(?:word|wd|code)?|pwd|pin)\b(\s*(?:is|was|[:=])\s*)(\S+)")),
    ("EMAIL", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("MAC", re.compile(r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b")),
    ("IP", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    ("CARD", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    (
        "PHONE",
        re.compile(
            r"(?<![\w.])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{3}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?!\w)(?!\.\d)"
        ),
    ),
]


@dataclass
class ScrubResult:
    """Scrubbed text and how many of each kind were replaced."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Replacements made."""
        return sum(self.counts.values())


def scrub_pii(text: str) -> ScrubResult:
    """Replace personal data and secrets in ``text`` with ``[KIND]`` placeholders."""
    counts: Counter[str] = Counter()
    for kind, pattern in _RULES:
        if kind == "PASSWORD":

            def keep_label(match: re.Match[str]) -> str:
                counts["PASSWORD"] += 1
                return f"{match.group(1)}{match.group(2)}[PASSWORD]"

            text = pattern.sub(keep_label, text)
            continue

        def replace(match: re.Match[str], kind: str = kind) -> str:
            counts[kind] += 1
            return f"[{kind}]"

        text = pattern.sub(replace, text)
    return ScrubResult(text, counts)
