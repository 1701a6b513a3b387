"""Who may read what: article audiences (directory group names) against the asking employee's groups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

AUDIENCE_SEPARATOR = "|"


@dataclass(frozen=True)
class Viewer:
    """The person retrieval runs for. Only their groups matter; an empty audience is public."""

    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, groups: Iterable[str]) -> Viewer:
        """Viewer with these group names."""
        return cls(frozenset(groups))

    def can_read(self, audience: frozenset[str]) -> bool:
        """True when the audience is empty (everyone) or shares a group with the viewer."""
        return not audience or not audience.isdisjoint(self.groups)


PUBLIC = Viewer()


def encode_audience(audience: Iterable[str]) -> str:
    """Audience as one metadata string, ``"|finance|hr|"`` (empty string when public)."""
    names = sorted(set(audience))
    return f"{AUDIENCE_SEPARATOR}{AUDIENCE_SEPARATOR.join(names)}{AUDIENCE_SEPARATOR}" if names else ""


def decode_audience(value: str | None) -> frozenset[str]:
    """Inverse of :func:`encode_audience`."""
    if not value:
        return frozenset()
    return frozenset(name for name in value.split(AUDIENCE_SEPARATOR) if name)
