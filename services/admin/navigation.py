"""The web app's sections and who may open them: one table used by the page header and by the tests.

Authorisation itself is enforced per route by ``require_roles``; this table only decides which links a
signed-in person sees, and the role-matrix test checks that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.admin.auth import SignedInUser
from services.directory.models import Role


@dataclass(frozen=True)
class Section:
    """A page of the web app shown in the header for people holding one of ``roles``."""

    path: str
    label: str
    roles: tuple[Role, ...]


EDITORS = (Role.ADMIN, Role.KNOWLEDGE_EDITOR)
ADMINS = (Role.ADMIN,)
MANAGERS = (Role.ADMIN, Role.MANAGER)

SECTIONS: tuple[Section, ...] = (
    Section("/chat", "Ask", ()),
    Section("/admin", "Overview", EDITORS),
    Section("/admin/articles", "Articles", EDITORS),
    Section("/admin/drafts", "Drafts", EDITORS),
    Section("/admin/gaps", "Gaps", EDITORS),
    Section("/admin/intents", "Intents", EDITORS),
    Section("/admin/sources", "Sources", ADMINS),
    Section("/admin/conversations", "Conversations", ADMINS),
    Section("/admin/runs", "Automations", ADMINS),
    Section("/admin/tickets", "Tickets", ADMINS),
    Section("/reports/roi", "ROI report", MANAGERS),
)


def sections_for(user: SignedInUser | None) -> list[Section]:
    """The sections ``user`` may open, in header order (none when signed out)."""
    if user is None:
        return []
    return [s for s in SECTIONS if user.has_any(s.roles)]
