"""Sign-in, sessions, roles and CSRF for the web app.

Local accounts (the embedded default) store argon2id hashes in ``employees.password_hash``; the session
is Starlette's signed cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` in production) holding the
employee id and a CSRF token. Every state-changing form posts the token back (``csrf_token`` field or
``X-CSRF-Token`` header); authorisation is checked on the server for every route through
``require_roles``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from services.common.db import session_scope
from services.directory.models import Employee, Role

SESSION_COOKIE = "deskpilot_session"
SESSION_MAX_AGE_S = 8 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < 12:
        raise ValueError("passwords need at least 12 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; takes the same time whether or not the account exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignedInUser:
    """Who is signed in, as the session resolved it."""

    id: int
    email: str
    display_name: str
    roles: frozenset[Role]
    groups: frozenset[str]

    def has_any(self, roles: tuple[Role, ...]) -> bool:
        """True when the user holds one of ``roles`` (admins hold every role)."""
        return Role.ADMIN in self.roles or not roles or bool(self.roles & set(roles))


def authenticate(db_session: Session, email: str, password: str) -> Employee | None:
    """The active employee with this e-mail and password, else None."""
    employee = db_session.scalar(select(Employee).where(func.lower(Employee.email) == email.strip().lower()))
    ok = verify_password(employee.password_hash if employee else None, password)
    return employee if ok and employee is not None and employee.is_active else None


def sign_in(request: Request, employee: Employee) -> None:
    """Start a fresh session for ``employee`` (a new CSRF token; nothing kept from before)."""
    request.session.clear()
    request.session.update({"uid": employee.id, CSRF_FIELD: secrets.token_urlsafe(32)})


def sign_out(request: Request) -> None:
    """End the session."""
    request.session.clear()


def current_user(request: Request) -> SignedInUser | None:
    """The signed-in, still active employee, or None."""
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with session_scope(request.app.state.session_factory) as db_session:
        employee = db_session.scalar(
            select(Employee)
            .where(Employee.id == uid, Employee.is_active.is_(True))
            .options(selectinload(Employee.role_grants), selectinload(Employee.groups))
        )
        if employee is None:
            return None
        user = SignedInUser(
            employee.id, employee.email, employee.display_name, employee.roles, employee.group_names
        )
    request.state.user = user
    return user


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created for anonymous sessions too, e.g. the sign-in form)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request whose CSRF token is missing or wrong."""
    expected = request.session.get(CSRF_FIELD)
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        supplied = str((await request.form()).get(CSRF_FIELD) or "")
    # Compared as bytes: compare_digest refuses (TypeError, a 500) str with non-ASCII characters.
    if (
        not isinstance(expected, str)
        or not supplied
        or not secrets.compare_digest(expected.encode(), supplied.encode("utf-8", "surrogatepass"))
    ):
        raise HTTPException(
            status_code=403, detail="The form expired or did not come from this site. Reload and try again."
        )


class SignInRequired(Exception):
    """Raised by ``require_roles`` for anonymous requests; the app redirects pages to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def require_roles(*roles: Role) -> Callable[[Request], SignedInUser]:
    """A dependency: the signed-in user holding one of ``roles`` (401 → sign-in, 403 otherwise)."""

    def dependency(request: Request) -> SignedInUser:
        user = current_user(request)
        if user is None:
            raise SignInRequired(request.url.path)
        if not user.has_any(roles):
            raise HTTPException(status_code=403, detail="You don't have access to this page.")
        return user

    return dependency
