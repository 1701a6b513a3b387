"""Draft a resolution article from a cluster of scrubbed resolved tickets: extractively, or by an LLM.

``draft_extractive`` assembles the article from the tickets' own sentences (no model): the most
representative title and symptom sentence, the most common stated cause, and the resolution steps
found across tickets, merged when they say the same thing, in the order the tickets agree on.

``draft_with_llm`` asks an LLM (prompt ``knowledge.prompts.article_draft_v1``) and then checks the
answer the way grounded answers are checked: a step is kept only when the resolution of a ticket it
cites, among the tickets the model was shown, contains it (stemmed word overlap of at least
:data:`SUPPORT_THRESHOLD`). Dropped steps are listed in ``flags``. Whenever the LLM cannot give a usable
draft (unavailable, malformed JSON, no supported step) the extractive draft is returned with a flag
saying why, so the pipeline always gets a draft.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz

from connectors.interfaces import LLM
from connectors.models import LLMPurpose
from knowledge.prompts import article_draft_v1
from services.articles.types import DraftArticle, DraftStep, ScrubbedTicket, TicketCluster
from services.common.errors import PermanentError, RetryableError

logger = logging.getLogger(__name__)

NO_CAUSE = article_draft_v1.NO_CAUSE
SAME_STEP_THRESHOLD = 0.6
"""Two step texts at least this similar (:func:`step_similarity`) are one step."""
SUPPORT_THRESHOLD = 0.6
"""Share of an LLM step's content words (:func:`support_score`) that a cited ticket's resolution must hold.

On 12 faithful paraphrases and 12 plausible invented steps for a four-ticket Outlook cluster, 0.6 keeps
10 faithful steps (lost: one-word synonyms, "Quit Outlook", "Reopen Outlook") and rejects 11 invented
ones (kept: "Clear the Outlook cache folder", 0.71, close to the tickets' "clear the cached credentials").
Faithful steps scored 0.67–1.0, the other invented ones 0–0.43."""
MIN_STEP_SUPPORT_SHARE = 0.3
"""Extractive steps found in fewer than this share of the cluster's tickets (at least 1) are left out.

Agents also note one-off actions (remapped a drive for the user while there). On the 143 problem
clusters found in ``services.articles.fixtures`` seeds 1–12, step recall was 0.995 for shares 0.2–0.3
while the share of draft steps that are canonical rose from 0.92 (0.2) to 0.95 (0.3); at 0.34 recall
fell to 0.98, with 6 clusters under 0.8."""
MAX_STEPS = 10
MAX_EXTRACTIVE_TICKETS = 100
"""An extractive draft reads at most this many tickets (300 tickets took 5 s, 100 about 0.4 s)."""
LLM_MAX_TOKENS = 1200

# ---- words ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
_ONE_TICKETS_DATA = frozenset(
    "[PASSWORD] [SECRET] [MAC] [IP] [EMAIL] [PHONE] [CARD] [SERIAL] [ASSET] [USER]".split()
)
"""Placeholders for data that belongs to one ticket: a step holding one is never article material."""
_STOPWORDS = frozenset(
    """a an the and or but if then than so to of in on at by for from with into onto via as is are was were
    be been being am do does did done has have had it its this that these those there their they them
    he she him her his hers i me my we us our you your yours s t not no yes all any some again also just
    up out off over once when while which who whom what where how very can could should would will may
    might must per each both user users user's employee requester customer caller please""".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=4096)
def _stems(text: str) -> tuple[str, ...]:
    """Content words of ``text``, lower-cased, stop words and placeholders removed, Snowball-stemmed."""
    words = [w for w in _WORD.findall(_PLACEHOLDER.sub(" ", text).lower()) if w not in _STOPWORDS]
    return tuple(_stemmer().stemWords(words)) if words else ()


def step_similarity(a: str, b: str) -> float:
    """How alike two step texts are (0–1): the best of word-set Dice, fuzzy sorted-token ratio, and, when
    they share three or more words, 0.9 × the overlap with the shorter one (a terse version of a step)."""
    sa, sb = set(_stems(a)), set(_stems(b))
    if not sa or not sb:
        return 0.0
    shared = len(sa & sb)
    dice = 2 * shared / (len(sa) + len(sb))
    ratio = fuzz.token_sort_ratio(" ".join(sorted(sa)), " ".join(sorted(sb))) / 100
    overlap = 0.9 * shared / min(len(sa), len(sb)) if shared >= 3 else 0.0
    return max(dice, ratio, overlap)


def _resolution_support(claim: str, resolution: str) -> float:
    """Best :func:`support_score` of ``claim`` against up to three consecutive clauses of a resolution
    (chatter such as "closing ticket" is not evidence; a step may join a few of the ticket's clauses)."""
    texts = [piece.text for piece in split_resolution(resolution)[0]]
    windows = [" ".join(texts[i : i + 3]) for i in range(len(texts))]
    return max((support_score(claim, window) for window in windows), default=0.0)


def support_score(claim: str, source: str) -> float:
    """Weighted share of ``claim``'s content words that ``source`` contains, action verbs ("remove",
    "clear") counting half because they are the words paraphrases change; 0 when fewer than two words
    (or the only one) are shared, so one common word such as "Outlook" never supports a claim alone."""
    claim_stems = set(_stems(claim))
    if not claim_stems:
        return 0.0
    shared = claim_stems & set(_stems(source))
    if len(shared) < min(2, len(claim_stems)):
        return 0.0
    verbs = _verb_stems()
    weight = {stem: 0.5 if stem in verbs else 1.0 for stem in claim_stems}
    return sum(weight[stem] for stem in shared) / sum(weight.values())


@lru_cache(maxsize=1)
def _verb_stems() -> frozenset[str]:
    return frozenset(_stemmer().stemWords(sorted(STEP_VERBS)))


# ---- sentences -----------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.):]|[-*•‣▪]|step\s*\d{1,2}\s*[:.)-]?)\s+", re.IGNORECASE)
_INLINE_NUMBER = re.compile(r"(?:^|(?<=\s))(\d{1,2})[.)]\s+")
_SEQUENCE_SPLIT = re.compile(
    r"\s*,?\s+(?:and\s+)?then,?\s+|\s*,\s*(?:after that|afterwards|and finally|finally|next),?\s+"
    r"|\s+(?:after that|afterwards),?\s+|\s+and\s+(?=(?:asked|had|told|instructed|got|walked)\s)",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(
    r"^(?:(?:then|next|finally|first|firstly|secondly|lastly|after that|afterwards|also|and|so|"
    r"once done|once that was done|to fix (?:this|it)|to resolve (?:this|it))\b[,:]?\s*)+",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|thanks|thank you|ok|okay)\b"
    r"[^,.!?]{0,30}[,.!?]\s*",
    re.IGNORECASE,
)
_ACTOR = re.compile(
    r"^(?:(?:i|we|tech|technician|agent|support|service desk|helpdesk)\s+(?:have\s+|had\s+|then\s+)?)?"
    r"(?:(?:had|asked|told|instructed|advised|got|helped)\s+(?:the\s+)?"
    r"(?:user|users|requester|customer|caller|employee|them|him|her|\[[A-Z_]+\])\s+(?:to\s+)?"
    r"|walked\s+(?:the\s+)?(?:user|requester|customer|caller|employee|them|him|her|\[[A-Z_]+\])\s+through\s+"
    r"|(?:the\s+)?(?:user|requester|customer|caller|employee)\s+(?:should|needs? to|has to|must)\s+"
    r"|please\s+)?",
    re.IGNORECASE,
)
_JOINED_PAST = re.compile(r"(\band|\bor|,)\s+([A-Za-z-]+ed)\b")
_SUBJECT = re.compile(r"^(?:i|we|tech|technician|agent)\s+(?:have\s+|then\s+)?", re.IGNORECASE)
_CHATTER = re.compile(
    r"\b(?:thanks|thank you|thx|cheers|closing|let (?:me|us) know|reach out|feel free|hope (?:this|that) "
    r"helps|have a (?:great|good|nice)|ticket|no further|works now|working now|working again|"
    r"fixed now|all good|(?:user|customer|requester|caller|employee|they|he|she) confirmed|"
    r"confirmed (?:it |that it |that )?(?:is |was )?(?:working|works|fixed|resolved|ok)|"
    r"(?:issue|problem) (?:is |was |has been )?(?:now )?(?:resolved|fixed|gone|solved)|"
    r"marked as|marking as)\b"
    r"|^(?:ok|okay|done|resolved|fixed|solved|sorted|closed)\W*$",
    re.IGNORECASE,
)
_DESCRIPTION_CHATTER = re.compile(
    r"\b(?:please help|please advise|thanks|thank you|asap|urgent|any ideas|can you help|can someone)\b",
    re.IGNORECASE,
)
_CAUSE = re.compile(
    r"\b(?:because|caused by|due to|root cause|the cause|cause was|was causing|were causing|"
    r"the culprit|stemmed from|as a result of)\b",
    re.IGNORECASE,
)
_CAUSE_SPLIT = re.compile(r"\s*,?\s+(?:because|due to|as a result of)\b", re.IGNORECASE)
_TITLE_PREFIX = re.compile(r"^(?:(?:re|fw|fwd|urgent|important)\s*[:!-]\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)

STEP_VERBS = frozenset(
    """open close clear delete remove restart reboot reinstall install uninstall update upgrade downgrade
    reset sign log enter re-enter type select click choose go navigate run check verify ensure make set
    change enable disable turn toggle switch add re-add create map remap reconnect connect disconnect
    unplug plug replace register re-register enroll re-enroll unlock rename move copy repair rebuild
    recreate free empty stop start kill end cancel flush renew release forget rejoin join download apply
    grant assign sync resync pause resume unlink link approve scan launch test use edit configure
    reconfigure allow revert roll adjust increase archive compact upload refresh power shut mount pair
    unpair re-pair reauthorize re-authenticate authenticate rename purge wipe reimage re-image delete
    provision reprovision re-provision reactivate activate deactivate logout re-login""".split()
)
_IRREGULAR_PAST = {
    "ran": "run",
    "made": "make",
    "went": "go",
    "chose": "choose",
    "rebuilt": "rebuild",
    "got": "get",
    "gave": "give",
    "took": "take",
    "did": "do",
    "found": "find",
    "sent": "send",
}


def _imperative(word: str) -> str | None:
    """The step verb ``word`` is a form of (``Cleared`` → ``clear``), or None."""
    lower = word.lower()
    if lower in STEP_VERBS:
        return lower
    if lower in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[lower]
    candidates: list[str] = []
    if lower.endswith("ied"):
        candidates.append(lower[:-3] + "y")
    if lower.endswith("ed"):
        candidates += [lower[:-2], lower[:-1]]
        if len(lower) > 4 and lower[-3] == lower[-4]:
            candidates.append(lower[:-3])
    if lower.endswith("ing"):
        candidates += [lower[:-3], lower[:-3] + "e"]
    return next((c for c in candidates if c in STEP_VERBS), None)


def _tidy(text: str) -> str:
    """Collapse spaces, trim punctuation at the edges, capitalise, end with a full stop."""
    text = re.sub(r"\s+", " ", text).strip(" \t,;:-–—")
    text = text.rstrip(".!;, ")
    if not text:
        return ""
    return text[0].upper() + text[1:] + "."


@dataclass(frozen=True)
class _Piece:
    """A resolution clause as a step, and whether it reads as an action (a step verb, or a list item)."""

    text: str
    actionable: bool


def _split_inline_list(line: str) -> list[str]:
    """Split "1. Do this 2. Do that" written on one line, when the numbers run 1, 2, 3..."""
    starts: list[tuple[int, int]] = []
    expected = 1
    for match in _INLINE_NUMBER.finditer(line):
        if int(match.group(1)) == expected:
            starts.append((match.start(1), match.end()))
            expected += 1
    if len(starts) < 2:
        return [line]
    parts = [line[: starts[0][0]]] + [
        line[begin : (starts[i + 1][0] if i + 1 < len(starts) else len(line))]
        for i, (_, begin) in enumerate(starts)
    ]
    return [part for part in parts if part.strip()]


def split_resolution(resolution: str) -> tuple[list[_Piece], list[str]]:
    """Step candidates of a resolution note in order, and the sentences that state a cause.

    Lines, numbered items (also inline "1. … 2. …"), sentences and "then"/"after that" clauses become
    candidates; greetings and chatter ("thanks", "closing", "let me know") are dropped; reported actions
    are made imperative ("I cleared the cache" → "Clear the cache").
    """
    pieces: list[_Piece] = []
    causes: list[str] = []
    for raw_line in resolution.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        inline = _split_inline_list(line)
        listed = len(inline) > 1 or bool(_LIST_MARKER.match(line))
        for item in inline:
            for sentence in _SENTENCE_END.split(_LIST_MARKER.sub("", item.strip())):
                sentence = _GREETING.sub("", sentence.strip())
                if not sentence or _CHATTER.search(sentence):
                    continue
                if _CAUSE.search(sentence):
                    causes.append(_tidy(_LEAD_IN.sub("", sentence)))
                    sentence = _CAUSE_SPLIT.split(sentence, maxsplit=1)[0]
                    if _CAUSE.search(sentence):
                        continue
                for clause in _SEQUENCE_SPLIT.split(sentence):
                    piece = _as_step(clause, listed)
                    if piece is not None:
                        pieces.append(piece)
    return pieces, causes


def _as_step(clause: str, listed: bool) -> _Piece | None:
    """A clause as an imperative step, or None when nothing of it is left."""
    text = _LEAD_IN.sub("", clause.strip())
    text = _ACTOR.sub("", text, count=1)
    text = _SUBJECT.sub("", text, count=1)
    text = _LEAD_IN.sub("", text)
    words = text.split(maxsplit=1)
    if not words or not _stems(text):
        return None
    verb = _imperative(words[0].strip(",.:;"))
    if verb is not None:
        text = verb + (" " + words[1] if len(words) > 1 else "")
        # "... and signed back in" → "... and sign back in"
        text = _JOINED_PAST.sub(lambda m: f"{m.group(1)} {_imperative(m.group(2)) or m.group(2)}", text)
    return _Piece(_tidy(_depersonalise(text)), actionable=verb is not None or listed)


def _depersonalise(text: str) -> str:
    """A person named in a resolution step is the requester: "Have [PERSON] sign in" → "Have the user..."."""
    return text.replace("[PERSON]", "the user")


def _holds_ones_data(text: str) -> list[str]:
    """The one-ticket placeholders (:data:`_ONE_TICKETS_DATA`) in ``text``."""
    return sorted({p for p in _PLACEHOLDER.findall(text) if p in _ONE_TICKETS_DATA})


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


# ---- extractive ----------------------------------------------------------------------------------------


def _set_cosine(a: set[str], b: set[str]) -> float:
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


def _clean_title(title: str) -> str:
    title = _TITLE_PREFIX.sub("", title.strip()).strip(" .!?:-")
    return title[:1].upper() + title[1:] if title else "Untitled problem"


def _representative_title(tickets: Sequence[ScrubbedTicket], vectors: npt.NDArray[np.float32] | None) -> str:
    """The title of the ticket closest to the cluster's centre (vectors if given, else word overlap)."""
    if vectors is not None and len(vectors) == len(tickets):
        centroid = np.asarray(vectors, dtype=np.float64).mean(axis=0)
        scores = [float(score) for score in np.asarray(vectors, dtype=np.float64) @ centroid]
    else:
        words = [set(_stems(f"{t.title} {t.description}")) for t in tickets]
        scores = []
        for i, ticket in enumerate(tickets):
            title_words = set(_stems(ticket.title))
            others = [_set_cosine(title_words, words[j]) for j in range(len(tickets)) if j != i]
            scores.append(sum(others) / len(others) if others else 0.0)
    # A properly capitalised title reads better than "outlook wont open", all else about equal.
    for i, ticket in enumerate(tickets):
        if ticket.title != ticket.title.lower() and ticket.title != ticket.title.upper():
            scores[i] += 0.02
    best = max(range(len(tickets)), key=lambda i: (scores[i], -i))
    return _clean_title(tickets[best].title)


def _symptoms(tickets: Sequence[ScrubbedTicket]) -> str:
    """The description sentence(s) most typical of the cluster: at most two, from different tickets."""
    words = [set(_stems(f"{t.title} {t.description}")) for t in tickets]
    scored: list[tuple[float, int, str]] = []
    for i, ticket in enumerate(tickets):
        for sentence in _sentences(_GREETING.sub("", ticket.description.strip())):
            sentence = _GREETING.sub("", sentence)
            sentence_words = set(_stems(sentence))
            if len(sentence_words) < 2 or (_DESCRIPTION_CHATTER.search(sentence) and len(sentence_words) < 4):
                continue
            others = [_set_cosine(sentence_words, words[j]) for j in range(len(tickets)) if j != i]
            score = sum(others) / len(others) if others else 1.0
            scored.append((score + (0.02 if sentence != sentence.lower() else 0.0), i, sentence))
    if not scored:
        return _tidy(tickets[0].title)
    scored.sort(key=lambda item: (-item[0], item[1]))
    best_score, best_index, best = scored[0]
    chosen = [best]
    for score, index, sentence in scored[1:]:
        if score < 0.8 * best_score:
            break
        if index != best_index and step_similarity(sentence, best) < 0.5:
            chosen.append(sentence)
            break
    return " ".join(_tidy(sentence) for sentence in chosen)


def _group(texts: Sequence[tuple[int, str]]) -> list[list[int]]:
    """Indices of ``(ticket, text)`` items grouped by :func:`step_similarity`; one item per ticket a group."""
    groups: list[list[int]] = []
    for index, (ticket, text) in enumerate(texts):
        best, best_score = -1, SAME_STEP_THRESHOLD
        for g, members in enumerate(groups):
            if any(texts[m][0] == ticket for m in members):
                continue
            score = max(step_similarity(text, texts[m][1]) for m in members)
            if score >= best_score:
                best, best_score = g, score
        if best >= 0:
            groups[best].append(index)
        else:
            groups.append([index])
    return groups


def _medoid(texts: Sequence[str]) -> str:
    """The text most like the others (ties: the shortest)."""
    return max(
        texts,
        key=lambda text: (sum(step_similarity(text, other) for other in texts), -len(text)),
    )


def _cause(tickets: Sequence[ScrubbedTicket]) -> str:
    """The cause most tickets state in their resolution, or :data:`NO_CAUSE`."""
    items = [
        (i, cause) for i, t in enumerate(tickets) for cause in split_resolution(t.resolution)[1] if cause
    ]
    if not items:
        return NO_CAUSE
    groups = _group(items)
    largest = max(groups, key=lambda g: (len(g), -g[0]))
    return _medoid([items[m][1] for m in largest])


def _order(groups: Sequence[Sequence[tuple[int, float]]]) -> list[int]:
    """Order step groups (members: ticket, relative position) by the precedence most tickets agree on,
    ties and cycles broken by the average relative position."""
    count = len(groups)
    average = [sum(pos for _, pos in g) / len(g) for g in groups]
    positions = [dict(g) for g in groups]
    votes = np.zeros((count, count), dtype=np.int64)
    for a in range(count):
        for b in range(count):
            if a != b:
                votes[a, b] = sum(
                    1 for t, pos in positions[a].items() if t in positions[b] and pos < positions[b][t]
                )
    before = votes > votes.T  # before[a, b]: more tickets do a before b than after
    remaining = set(range(count))
    ordered: list[int] = []
    while remaining:
        free = [g for g in remaining if not any(before[o, g] for o in remaining if o != g)]
        pick = min(free or remaining, key=lambda g: (average[g], g))
        ordered.append(pick)
        remaining.remove(pick)
    return ordered


def _steps(tickets: Sequence[ScrubbedTicket]) -> tuple[list[DraftStep], list[str]]:
    """Resolution steps across tickets, merged, filtered by support and ordered; plus quality flags."""
    items: list[tuple[int, str]] = []
    relative: list[float] = []
    actionable: list[bool] = []
    personal: set[str] = set()
    for i, ticket in enumerate(tickets):
        pieces = split_resolution(ticket.resolution)[0]
        personal.update(p for piece in pieces for p in _holds_ones_data(piece.text))
        pieces = [piece for piece in pieces if not _holds_ones_data(piece.text)]
        for position, piece in enumerate(pieces):
            items.append((i, piece.text))
            relative.append((position + 0.5) / len(pieces))
            actionable.append(piece.actionable)
    flags: list[str] = []
    if personal:
        flags.append(f"left out resolution notes holding one ticket's data ({', '.join(sorted(personal))})")
    groups = _group(items)
    kept = [g for g in groups if any(actionable[m] for m in g)]
    if groups and not kept:
        kept = groups
        flags.append("no resolution reads as an action: steps are the resolution sentences as written")
    minimum = max(1, math.ceil(MIN_STEP_SUPPORT_SHARE * len(tickets)))
    rare = [g for g in kept if len({items[m][0] for m in g}) < minimum]
    if rare:
        flags.append(f"left out {len(rare)} step(s) found in fewer than {minimum} tickets")
        kept = [g for g in kept if g not in rare]
    if len(kept) > MAX_STEPS:
        flags.append(f"left out {len(kept) - MAX_STEPS} least supported step(s) beyond {MAX_STEPS}")
        kept = sorted(kept, key=lambda g: -len(g))[:MAX_STEPS]
    if not kept:
        flags.append("no resolution steps found in the tickets")
        return [], flags
    order = _order([[(items[m][0], relative[m]) for m in g] for g in kept])
    steps = [
        DraftStep(
            text=_medoid([items[m][1] for m in kept[g]]),
            supported_by=tuple(sorted({tickets[items[m][0]].ticket_id for m in kept[g]})),
        )
        for g in order
    ]
    return steps, flags + _placeholder_flags(steps)


def _placeholder_flags(steps: Sequence[DraftStep]) -> list[str]:
    """A flag per step that still holds scrubbed text ("[HOST]"): the reviewer must fill it in or cut it."""
    return [
        f"step {n} contains scrubbed text {', '.join(sorted(set(found)))}: edit or remove it"
        for n, step in enumerate(steps, start=1)
        if (found := _PLACEHOLDER.findall(step.text))
    ]


def _applies_to(tickets: Sequence[ScrubbedTicket]) -> tuple[str, ...]:
    """The tickets' categories, most frequent first."""
    counts = Counter(t.category.strip() for t in tickets if t.category and t.category.strip())
    return tuple(category for category, _ in counts.most_common())


def _confidence(size: int, cohesion: float, support: float) -> float:
    """0–1 from cluster size (log scale, full at 20 tickets), cohesion and the steps' support."""
    size_score = min(1.0, math.log(size) / math.log(20)) if size > 1 else 0.0
    value = 0.25 * size_score + 0.35 * max(0.0, min(1.0, cohesion)) + 0.4 * max(0.0, min(1.0, support))
    return round(value, 3)


def draft_extractive(
    cluster: TicketCluster, *, vectors: npt.NDArray[np.float32] | None = None
) -> DraftArticle:
    """An article assembled from the tickets' own text (``generator="extractive"``).

    ``vectors`` (optional, one row per ticket of the cluster, in order) pick the title by closeness to the
    centroid; without them word overlap does. Steps carry the ids of the tickets that contain them. Only
    the first :data:`MAX_EXTRACTIVE_TICKETS` tickets (the most representative, as ``cluster_tickets``
    orders them) are read, since step merging grows with the square of the number of steps;
    ``source_ticket_ids`` still lists every ticket of the cluster.
    """
    if not cluster.tickets:
        raise ValueError("cannot draft an article from an empty cluster")
    tickets = cluster.tickets[:MAX_EXTRACTIVE_TICKETS]
    if vectors is not None:
        vectors = vectors[: len(tickets)]
    steps, flags = _steps(tickets)
    support = sum(len(s.supported_by) for s in steps) / (len(steps) * len(tickets)) if steps else 0.0
    return DraftArticle(
        title=_representative_title(tickets, vectors),
        symptoms=_symptoms(tickets),
        cause=_cause(tickets),
        steps=tuple(steps),
        applies_to=_applies_to(cluster.tickets),
        generator="extractive",
        confidence=_confidence(len(cluster.tickets), cluster.cohesion, support),
        source_ticket_ids=tuple(sorted(t.ticket_id for t in cluster.tickets)),
        flags=tuple(flags),
    )


# ---- LLM -----------------------------------------------------------------------------------------------


def _fallback(cluster: TicketCluster, reason: str) -> DraftArticle:
    draft = draft_extractive(cluster)
    return replace(draft, flags=(f"{reason}; extractive draft used", *draft.flags))


def _ticket_ids(raw: Sequence[int | str]) -> list[int | str]:
    """Cited ids as ints where they are numbers; anything else is kept as written (never in the cluster)."""
    ids: list[int | str] = []
    for value in raw:
        text = str(value).strip().lstrip("#")
        ids.append(int(text) if text.isdigit() else str(value))
    return ids


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draft_with_llm(cluster: TicketCluster, llm: LLM, *, timeout_s: float = 30) -> DraftArticle:
    """An LLM-written article whose every step is supported by a ticket it cites (``generator="llm"``).

    Only the first :data:`~knowledge.prompts.article_draft_v1.MAX_TICKETS` tickets of the cluster (the
    most representative, as ``cluster_tickets`` orders them) are shown, and only their ids, titles,
    descriptions and resolutions. Citations of any other id do not count. A stated cause that the
    tickets' words do not support is replaced by :data:`NO_CAUSE`; symptoms that share few words with the
    descriptions are flagged. Steps holding one ticket's data ("[PASSWORD]") are dropped. Falls back to
    :func:`draft_extractive`, with a flag, when the LLM fails, the reply is not the JSON asked for, or no
    step is supported.
    """
    shown = cluster.tickets[: article_draft_v1.MAX_TICKETS]
    if not shown:
        raise ValueError("cannot draft an article from an empty cluster")
    messages = article_draft_v1.build_messages(
        [article_draft_v1.PromptTicket(t.ticket_id, t.title, t.description, t.resolution) for t in shown]
    )
    try:
        result = llm.complete(
            messages, purpose=LLMPurpose.DRAFT_ARTICLE, max_tokens=LLM_MAX_TOKENS, timeout_s=timeout_s
        )
    except RetryableError as exc:
        logger.warning("LLM article draft failed, using the extractive draft", extra={"error": str(exc)})
        return _fallback(cluster, f"LLM unavailable ({_short(str(exc))})")
    except PermanentError as exc:
        logger.warning("LLM refused the article draft request", extra={"error": str(exc)})
        return _fallback(cluster, f"LLM refused the request ({_short(str(exc))})")
    try:
        reply = article_draft_v1.parse_reply(result.text)
    except article_draft_v1.MalformedReplyError as exc:
        return _fallback(cluster, f"LLM reply was not the article JSON asked for ({_short(str(exc))})")

    by_id = {t.ticket_id: t for t in shown}
    flags: list[str] = []
    steps: list[DraftStep] = []
    proposed = 0
    for step in reply.steps:
        text = _tidy(_depersonalise(_LIST_MARKER.sub("", step.text.strip())))
        if not text:
            continue
        proposed += 1
        if personal := _holds_ones_data(text):
            flags.append(f"dropped step holding one ticket's data ({', '.join(personal)}): {_short(text)}")
            continue
        cited = _ticket_ids(step.source_ticket_ids)
        outside = [str(c) for c in cited if not (isinstance(c, int) and c in by_id)]
        supporting = {
            c
            for c in cited
            if isinstance(c, int)
            and c in by_id
            and _resolution_support(text, by_id[c].resolution) >= SUPPORT_THRESHOLD
        }
        if outside:
            flags.append(
                f"ignored citations of tickets not given to the model ({', '.join(outside)}): {_short(text)}"
            )
        if not supporting:
            flags.append(f"dropped unsupported step: {_short(text)}")
            continue
        also = {t.ticket_id for t in shown if _resolution_support(text, t.resolution) >= SUPPORT_THRESHOLD}
        steps.append(DraftStep(text=text, supported_by=tuple(sorted(supporting | also))))
    if not steps:
        return _fallback(
            cluster, f"LLM draft rejected: none of its {proposed} step(s) is supported by a cited ticket"
        )
    if len(steps) > MAX_STEPS:
        flags.append(f"kept the first {MAX_STEPS} of {len(steps)} supported steps")
        steps = steps[:MAX_STEPS]
    flags += _placeholder_flags(steps)

    cause = reply.cause.strip()
    if cause.rstrip(".").lower() in ("", NO_CAUSE.rstrip(".").lower()):
        cause = NO_CAUSE
    elif support_score(cause, " ".join(f"{t.description} {t.resolution}" for t in shown)) < SUPPORT_THRESHOLD:
        flags.append(f"dropped unsupported cause: {_short(cause)}")
        cause = NO_CAUSE
    symptoms = reply.symptoms.strip() or _symptoms(shown)
    if support_score(symptoms, " ".join(f"{t.title} {t.description}" for t in shown)) < SUPPORT_THRESHOLD:
        flags.append("the symptoms share few words with the tickets' descriptions: check them")
    applies_to = tuple(dict.fromkeys(item.strip() for item in reply.applies_to if item.strip()))
    support_ratio = len(steps) / proposed
    return DraftArticle(
        title=_clean_title(reply.title),
        symptoms=symptoms,
        cause=cause,
        steps=tuple(steps),
        applies_to=applies_to[:10] or _applies_to(cluster.tickets),
        generator="llm",
        confidence=_confidence(len(cluster.tickets), cluster.cohesion, support_ratio),
        source_ticket_ids=tuple(sorted(t.ticket_id for t in cluster.tickets)),
        flags=tuple(flags),
    )


# ---- evaluation ----------------------------------------------------------------------------------------


def step_recall(
    draft: DraftArticle, canonical_steps: Sequence[str], *, threshold: float = SAME_STEP_THRESHOLD
) -> float:
    """Share of ``canonical_steps`` that some step of ``draft`` matches (:func:`step_similarity` ≥
    ``threshold``); 1.0 when there are no canonical steps."""
    if not canonical_steps:
        return 1.0
    matched = sum(
        1
        for canonical in canonical_steps
        if any(step_similarity(canonical, step.text) >= threshold for step in draft.steps)
    )
    return matched / len(canonical_steps)
