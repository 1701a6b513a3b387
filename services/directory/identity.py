"""The built-in directory (``employees``, ``groups``, ``employee_groups``) as an ``IdentityProvider``.

User ids are employee ids as strings; group ids are group names. The built-in directory keeps no account
passwords, so password resets and unlocks are refused with ``RemoteRejectedError`` (the contract for an
unsupported operation). Every method opens its own short session.
"""

from __future__ import annotations

import logging
import re
from typing import NoReturn

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connectors.errors import RemoteNotFoundError, RemoteRejectedError
from connectors.http import connector_error
from connectors.models import DirectoryUser, PasswordReset
from services.common.db import session_scope
from services.directory.models import Employee, Group, employee_groups

logger = logging.getLogger(__name__)

SYSTEM = "builtin"
NO_PASSWORDS = "the built-in directory has no passwords; configure DESKPILOT_IDENTITY__KIND=okta or graph"
_EMPLOYEE_ID = re.compile(r"[1-9][0-9]{0,17}")


class BuiltinIdentityProvider:
    """``IdentityProvider`` over Deskpilot's own directory tables."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    @property
    def system(self) -> str:
        """Always ``builtin``."""
        return SYSTEM

    def find_user(self, email: str) -> DirectoryUser | None:
        """The active employee with this e-mail (case-insensitive), or None."""
        wanted = email.strip().lower()
        if "@" not in wanted or any(ch.isspace() for ch in wanted):
            return None
        with session_scope(self._sessions) as session:
            employee = session.scalar(
                select(Employee).where(func.lower(Employee.email) == wanted, Employee.is_active.is_(True))
            )
            return None if employee is None else _to_user(employee)

    def reset_password(self, user_id: str) -> PasswordReset:
        """Not supported: ``RemoteRejectedError`` (``RemoteNotFoundError`` for an unknown user)."""
        self._unsupported(user_id, "password reset")

    def unlock(self, user_id: str) -> DirectoryUser:
        """Not supported: ``RemoteRejectedError`` (``RemoteNotFoundError`` for an unknown user)."""
        self._unsupported(user_id, "unlock")

    def is_member(self, user_id: str, group_id: str) -> bool:
        """True when the employee belongs to the group named ``group_id`` (both must exist)."""
        with session_scope(self._sessions) as session:
            employee = _employee(session, user_id)
            return _is_member(session, employee.id, _group(session, group_id).id)

    def add_to_group(self, user_id: str, group_id: str) -> bool:
        """Add an active employee to the group named ``group_id``; False when already a member.

        The membership table's primary key settles a race: the loser's insert fails and it reports False.
        """
        try:
            with session_scope(self._sessions) as session:
                employee = _employee(session, user_id)
                group = _group(session, group_id)
                if not employee.is_active:
                    raise connector_error(RemoteRejectedError, SYSTEM, "the account is deactivated")
                if _is_member(session, employee.id, group.id):
                    return False
                session.execute(insert(employee_groups).values(employee_id=employee.id, group_id=group.id))
        except IntegrityError:
            if self.is_member(user_id, group_id):  # a concurrent add won
                return False
            raise
        logger.info("group member added", extra={"system": SYSTEM, "user_id": user_id, "group_id": group_id})
        return True

    def _unsupported(self, user_id: str, operation: str) -> NoReturn:
        with session_scope(self._sessions) as session:
            _employee(session, user_id)
        raise connector_error(RemoteRejectedError, SYSTEM, f"{operation} is not supported: {NO_PASSWORDS}")


def _to_user(employee: Employee) -> DirectoryUser:
    return DirectoryUser(
        user_id=str(employee.id),
        email=employee.email,
        display_name=employee.display_name,
        active=employee.is_active,
        locked=False,
    )


def _employee(session: Session, user_id: str) -> Employee:
    if not _EMPLOYEE_ID.fullmatch(user_id):
        raise connector_error(RemoteRejectedError, SYSTEM, "not an employee id")
    employee = session.get(Employee, int(user_id))
    if employee is None:
        raise connector_error(RemoteNotFoundError, SYSTEM, f"no employee {user_id}")
    return employee


def _group(session: Session, name: str) -> Group:
    group = session.scalar(select(Group).where(Group.name == name))
    if group is None:
        raise connector_error(RemoteNotFoundError, SYSTEM, f"no group {name[:200]!r}")
    return group


def _is_member(session: Session, employee_id: int, group_id: int) -> bool:
    found = session.scalar(
        select(employee_groups.c.employee_id).where(
            employee_groups.c.employee_id == employee_id, employee_groups.c.group_id == group_id
        )
    )
    return found is not None
