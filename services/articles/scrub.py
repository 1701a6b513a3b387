"""Scrub resolved tickets before clustering, drafting or an LLM sees them.

``scrub_ticket`` runs ``knowledge.pii.scrub_pii`` (e-mail, phone, IP, MAC, card, secrets, passwords) and
adds the rules that need helpdesk context: person names (known names everywhere, plus names found after
greetings, sign-offs and words like "colleague" or "spoke with"), hostnames, serial numbers, asset tags,
DOMAIN\\user logins, international phone numbers, passwords written without "is"/":", BitLocker recovery
keys and unlabelled API keys. Product names and error codes ("Outlook", "0x80070005", "KB5005565",
"AADSTS50076") are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from knowledge.pii import ScrubResult, scrub_pii
from services.articles.types import ScrubbedTicket, TicketText


@dataclass(frozen=True)
class _Rule:
    """Replace ``pattern`` (or its ``value`` group) with ``[kind]`` when ``accept`` agrees."""

    kind: str
    pattern: re.Pattern[str]
    accept: Callable[[str], bool] | None = None


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


def _has_letter_and_digit(value: str) -> bool:
    return any(c.isalpha() for c in value) and any(c.isdigit() for c in value)


def _looks_like_password(value: str) -> bool:
    """A digit, or a symbol with mixed case: "Welcome123!", "hBeoePWjS#"; not "again" or "0x80070005"."""
    mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    return (
        len(value) >= 6
        and any(c.isalpha() for c in value)
        and (any(c.isdigit() for c in value) or (has_symbol and mixed_case))
        and not value.lower().startswith("0x")
    )


def _vendor_serial(value: str) -> bool:
    """10–12 upper-case characters that alternate letters and digits (5CG1234XYZ, C02XK0ABJGH5).

    Error codes and KB numbers are a letter prefix and digits (one switch), so they are not serials.
    """
    if value.startswith("0X") or not _has_letter_and_digit(value):
        return False
    switches = sum(a.isdigit() != b.isdigit() for a, b in zip(value, value[1:], strict=False))
    return switches >= 2


_INTERNAL_LABELS = frozenset({"corp", "internal", "intra", "intranet", "lan", "local", "ad", "home"})
_INTERNAL_SUFFIXES = frozenset({"corp", "internal", "intranet", "lan", "local", "example", "arpa"})
_FILE_EXTENSIONS = frozenset(
    {"exe", "dll", "msi", "msc", "xlsx", "xls", "docx", "doc", "pptx", "pdf", "txt", "csv", "log", "ps1"}
    | {"pst", "ost", "json", "xml", "zip", "png", "jpg", "ini", "cfg", "bat", "cmd", "sys", "inf"}
)


def _internal_host(value: str) -> bool:
    """An FQDN under an internal-looking domain, or a numbered machine name with a domain."""
    labels = value.lower().split(".")
    if len(labels) < 2 or not labels[-1].isalpha() or labels[-1] in _FILE_EXTENSIONS:
        return False
    if labels[-1] in _INTERNAL_SUFFIXES or any(label in _INTERNAL_LABELS for label in labels[1:-1]):
        return True
    first = labels[0]
    return len(labels) >= 3 and any(c.isdigit() for c in first) and any(c.isalpha() for c in first)


# Before scrub_pii: shapes it would split or miss, so that no fragment survives.
_PRE_RULES: tuple[_Rule, ...] = (
    _Rule("SECRET", re.compile(r"\b\d{6}(?:-\d{6}){7}\b")),  # BitLocker recovery key
    _Rule(
        "PHONE",
        re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){2,6}(?!\w)"),
        lambda v: 8 <= _digits(v) <= 15,
    ),
    _Rule(
        "PHONE",
        re.compile(
            r"(?i)\b(?:phone|tel|mobile|cell|whatsapp|reach\s+me|call(?:ed|ing)?(?:\s+[^\s\d]+){0,3}\s+(?:on|at))"
            r"\s*[:#]?\s*(?P<value>\+?\(?\d[\d ().-]{5,}\d)"
        ),
        lambda v: 7 <= _digits(v) <= 15,
    ),
    _Rule("PHONE", re.compile(r"(?<![\w.+])0\d{4} ?\d{6}(?!\w)")),  # UK mobile: 07700 900123
)

# After scrub_pii: context rules on what is left.
_POST_RULES: tuple[_Rule, ...] = (
    _Rule(
        "SECRET",
        re.compile(
            r"(?i)\b(?:api[_ -]?key|access[_ -]?key|client[_ -]?secret|secret|token|bearer)\b[\"']?"
            r"\s*(?:is|was|[:=])?\s*[\"']?(?P<value>[A-Za-z0-9._~+/=-]{16,})"
        ),
        _has_letter_and_digit,
    ),
    _Rule("SECRET", re.compile(r"\b[A-Za-z0-9_-]{32,}\b"), _has_letter_and_digit),
    _Rule(
        "PASSWORD",
        re.compile(
            r"(?i)\b(?:pass(?:word|wd|code|phrase)?|pwd|pw)\b(?:\s+(?:reset|set|changed))?"
            r"(?:\s+(?:to|is|was|of|as))?\s*[:=]?\s*(?P<value>[^\s\[(<\"'][^\s]*?)(?=[.,;:)\]'\"]*(?:\s|$))"
        ),
        _looks_like_password,
    ),
    _Rule("MAC", re.compile(r"\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b")),  # Cisco notation
    _Rule("USER", re.compile(r"\b[A-Z][A-Z0-9-]{1,14}\\[A-Za-z][\w.-]{0,30}[A-Za-z0-9]")),  # DOMAIN\user
    _Rule("HOST", re.compile(r"\b[A-Z]{2,4}-[A-Z0-9]{2,6}-\d{2,5}[A-Z]?\b")),  # LT-FIN-0042
    _Rule(
        "HOST",
        re.compile(
            r"(?i)\b(?:wks|ws|lt|dt|pc|nb|srv|vm|prn|fs|dc|sql)-[a-z0-9]+(?:-[a-z0-9]+)*"
            r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\b"
        ),
        lambda v: any(c.isdigit() for c in v),
    ),
    _Rule(
        "HOST",
        re.compile(
            r"(?i)(?<![\w@.-])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\b"
        ),
        _internal_host,
    ),
    _Rule(
        "SERIAL",
        re.compile(
            r"(?i)\b(?:serial(?:\s+(?:number|no\.?))?|s/n|sn:|service\s+tag)\s*[:#]?\s*"
            r"(?P<value>[A-Z0-9][A-Z0-9-]{3,})"
        ),
        lambda v: any(c.isdigit() for c in v),
    ),
    _Rule(
        "ASSET",
        re.compile(r"(?i)\basset(?:\s+tag)?\s*(?:#|no\.?|number|:)?\s*(?P<value>[A-Z0-9][A-Z0-9-]{3,})"),
        lambda v: any(c.isdigit() for c in v),
    ),
    _Rule("SERIAL", re.compile(r"\b[A-Z0-9]{10,12}\b"), _vendor_serial),
)


def _apply(rules: Iterable[_Rule], text: str, counts: Counter[str]) -> str:
    for rule in rules:

        def replace(match: re.Match[str], rule: _Rule = rule) -> str:
            group = "value" if "value" in rule.pattern.groupindex else 0
            value = match.group(group)
            if rule.accept is not None and not rule.accept(value):
                return match.group(0)
            counts[rule.kind] += 1
            start, end = match.start(group) - match.start(), match.end(group) - match.start()
            whole = match.group(0)
            return f"{whole[:start]}[{rule.kind}]{whole[end:]}"

        text = rule.pattern.sub(replace, text)
    return text


# --- person names ------------------------------------------------------------------------------------

_NOT_NAMES = frozenset(
    word.casefold()
    for word in (
        # products and vendors
        "Microsoft Windows Outlook Teams Excel Word PowerPoint OneDrive SharePoint OneNote Office Intune "
        "Entra Azure Exchange BitLocker Defender Edge Chrome Firefox Safari Zoom Slack Webex GlobalProtect "
        "AnyConnect Cisco Okta Jabra Poly Logitech Dell Lenovo HP Apple Mac MacBook iPhone iPad Android "
        "Samsung Surface Authenticator Adobe Acrobat Visio Citrix ServiceNow Jira Zendesk Google Gmail "
        "Autodiscover Thunderbolt Intel Nvidia Wi-Fi WiFi Ethernet Bluetooth Company Portal Store"
        # departments and roles
        " Finance HR Sales Marketing Legal Networking Network Security Desk Service Support Helpdesk "
        "Team Teams IT Facilities Procurement Operations Engineering Admin Administrator Tier Level "
        "Manager Management Help Infrastructure Payroll Accounts Reception"
        # words that start sentences or follow greetings
        " The This That These Those It Its Then After Before Now When While We I You He She They My Our "
        "Your Their Please Thanks Thank Also Still All Everyone Everybody There Again Both Guys Folks "
        "Sir Madam Mr Mrs Ms Dr Hello Hi Hey Dear Regards Best Kind Cheers Sent From Confirmed User "
        "Requester Colleague Agent Sorry Yes No Ok Okay Great Good Morning Afternoon Evening Today "
        "Tomorrow Yesterday Settings Control Panel Credential Device Devices Account Center Update "
        "Updates Issue Problem Ticket Request Closing Closed Resolved Done Fixed Working Steps Step"
        # days and months
        " Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June "
        "July August September October November December"
    ).split()
)
_NAME = r"[^\W\d_][\w'’-]*"
_GREETING = re.compile(
    r"\b(?i:hi|hello|hey|dear|morning|thanks|thank\s+you|thx|cheers|regards|best\s+regards|kind\s+regards|"
    r"best|many\s+thanks)\b[ \t]*[,!:]?[ \t]*\n?[ \t]*"
    rf"(?P<value>{_NAME}(?:[ \t]+{_NAME})?)(?=[ \t]*(?:[,.!:;)|\n—–-]|$))"
)
_SIGN_OFF = re.compile(
    rf"(?m)(?:^|(?<=\s))(?:—|–|--)[ \t]*(?P<value>{_NAME}(?:[ \t]+{_NAME})?)[ \t]*(?:\([^)\n]*\))?[ \t]*$"
)
_CONTEXT = re.compile(
    r"\b(?P<cue>(?i:user|requester|colleague|co-?worker|agent|technician|tech|manager|caller|"
    r"spoke\s+(?:with|to)|called|contacted|emailed|messaged|cc|cc'd|assigned\s+to|escalated\s+to))\b"
    rf"[ \t]*:?[ \t]+(?P<value>{_NAME}(?:[ \t]+{_NAME})?)"
)
_NOT_A_CALLER = frozenset(
    "file folder app application tool setting option feature something thing profile group site list "
    "is was are were be been being network printer mailbox drive share queue also".split()
)
_POSSESSIVE = re.compile(r"['’]s$")
_WORD = re.compile(r"[^\W\d_]+")
_APOSTROPHE = re.compile(r"['’]")


def _fold(text: str) -> str:
    """ASCII form of a name ("Zoë Lindqvist" → "Zoe Lindqvist", "Yılmaz" → "Yilmaz")."""
    text = text.replace("ı", "i").replace("ø", "o").replace("Ø", "O").replace("ß", "ss").replace("ł", "l")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _name_like(word: str) -> bool:
    word = _POSSESSIVE.sub("", word)
    return (
        len(word) >= 2
        and word[0].isupper()
        and any(c.islower() for c in word)
        and word.casefold() not in _NOT_NAMES
    )


def _candidate(value: str) -> str | None:
    """The leading name-like words of a heuristic match ("Kofi Boateng", "Kofi"), or None."""
    words: list[str] = []
    for word in value.split():
        if not _name_like(word):
            break
        words.append(_POSSESSIVE.sub("", word))
    return " ".join(words) or None


def _names_in_context(text: str) -> set[str]:
    """Names that greetings, sign-offs and cue words ("colleague", "spoke with") point at."""
    found: set[str] = set()
    for pattern in (_GREETING, _SIGN_OFF):
        for match in pattern.finditer(text):
            if (name := _candidate(match.group("value"))) is not None:
                found.add(name)
    for match in _CONTEXT.finditer(text):
        if match.group("cue").lower() == "called":
            before = text[: match.start()].split()
            if before and before[-1].lower().strip(",.;:") in _NOT_A_CALLER:
                continue  # "a file called Budget"
        if (name := _candidate(match.group("value"))) is not None:
            found.add(name)
    return found


def _letters(value: str) -> int:
    return sum(c.isalpha() for c in value)


@lru_cache(maxsize=4096)
def _variants(name: str) -> tuple[str, ...]:
    """The full name and each part of ≥ 3 letters (hyphenated parts also split), with ASCII forms."""
    full = " ".join(name.split())
    if not full:
        return ()
    forms = {full}
    for part in full.split():
        for piece in (part, *part.split("-")):
            if _letters(piece) >= 3:
                forms.add(piece)
    forms |= {_fold(form) for form in forms}
    return tuple(sorted((f for f in forms if _letters(f) >= 2 or f == full), key=len, reverse=True))


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(_fold(text).casefold()))


@lru_cache(maxsize=8)
def _name_index(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Folded word → names containing it, so a large directory is searched by the ticket's words."""
    index: dict[str, list[str]] = {}
    for name in names:
        tokens = _tokens(name)
        for token in {t for t in tokens if len(t) >= 3} or tokens:
            index.setdefault(token, []).append(name)
    return {token: tuple(found) for token, found in index.items()}


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    variants = sorted({v for name in names for v in _variants(name)}, key=len, reverse=True)
    if not variants:
        return None
    alternatives = "|".join(_APOSTROPHE.sub("['’]", re.escape(v).replace(r"\ ", r"\s+")) for v in variants)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _replace_names(pattern: re.Pattern[str] | None, text: str, counts: Counter[str]) -> str:
    if pattern is None:
        return text

    def replace(_: re.Match[str]) -> str:
        counts["PERSON"] += 1
        return "[PERSON]"

    return pattern.sub(replace, text)


def _scrub_fields(
    fields: list[str], people: Iterable[str], known_people: Iterable[str], counts: Counter[str]
) -> list[str]:
    """Scrub texts that belong together: a name found in one field is removed from all of them."""
    scrubbed: list[str] = []
    for text in fields:
        text = _apply(_PRE_RULES, text, counts)
        result = scrub_pii(text)
        counts.update(result.counts)
        scrubbed.append(_apply(_POST_RULES, result.text, counts))
    names = {p for p in people if p.strip()}
    joined = "\n".join(scrubbed)
    for text in scrubbed:
        names |= _names_in_context(text)
    directory = tuple(dict.fromkeys(n for n in known_people if n and n.strip()))
    if directory:
        index = _name_index(directory)
        for token in _tokens(joined):
            names.update(index.get(token, ()))
    pattern = _name_pattern(names)
    return [_replace_names(pattern, text, counts) for text in scrubbed]


def scrub_text(text: str, *, people: Iterable[str] = ()) -> ScrubResult:
    """Scrub one text with the ticket rules; ``people`` are names to remove wherever they appear."""
    counts: Counter[str] = Counter()
    (scrubbed,) = _scrub_fields([text], people, (), counts)
    return ScrubResult(scrubbed, counts)


def scrub_ticket(ticket: TicketText, *, known_people: Iterable[str] = ()) -> ScrubbedTicket:
    """``ticket`` with personal data replaced by ``[KIND]`` placeholders and a count per kind.

    Names in ``ticket.people`` and ``known_people`` (e.g. the employee directory) are removed in full
    and by each part of ≥ 3 letters, case-insensitively and with or without accents.
    """
    counts: Counter[str] = Counter()
    title, description, resolution = _scrub_fields(
        [ticket.title, ticket.description, ticket.resolution], ticket.people, known_people, counts
    )
    return ScrubbedTicket(
        ticket_id=ticket.ticket_id,
        external_key=ticket.external_key,
        title=title,
        description=description,
        resolution=resolution,
        category=ticket.category,
        report=dict(sorted(counts.items())),
    )
