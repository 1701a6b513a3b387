"""OpenID Connect single sign-on: the client (authlib) and the mapping from verified claims to a person.

authlib runs the authorization code flow with PKCE and a nonce, keeps its state in the signed session,
and verifies the ID token (signature against the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``)
before :func:`identity_from_claims` sees it. People are matched by e-mail; roles come from the groups
claim when a mapping is configured, so that removing someone from the IdP group removes the role at their
next sign-in.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import JoseError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.config import OidcSettings
from services.common.db import utcnow
from services.directory.models import Employee, EmployeeRole, Group, Role

CALLBACK_PATH = "/auth/oidc/callback"
_MAPPED_ROLES = (Role.ADMIN, Role.KNOWLEDGE_EDITOR, Role.MANAGER)


def _http_errors() -> tuple[type[Exception], ...]:
    """HTTP failures of authlib's client: it uses ``httpx2`` when installed, else ``httpx``."""
    errors: list[type[Exception]] = [httpx.HTTPError]
    try:
        errors.append(importlib.import_module("httpx2").HTTPError)
    except ImportError:
        pass
    return tuple(errors)


PROVIDER_HTTP_ERRORS = _http_errors()
"""Raised when the provider can't be reached or answers garbage."""
TOKEN_ERRORS: tuple[type[Exception], ...] = (OAuthError, JoseError, ValueError, KeyError)
"""Raised when the provider's answer fails verification (state, code, signature, claims)."""


class OidcRefused(Exception):
    """The provider vouched for someone Deskpilot will not let in (the message is shown to them)."""


@dataclass(frozen=True)
class OidcIdentity:
    """Who the provider says signed in."""

    subject: str
    email: str
    name: str
    groups: tuple[str, ...]


def build_oidc_client(settings: OidcSettings) -> StarletteOAuth2App:
    """The authlib client for the configured provider (discovery document read on first use)."""
    if not settings.enabled or settings.issuer is None:
        raise ValueError("single sign-on is not configured")
    oauth = OAuth()
    client = oauth.register(
        name="deskpilot",
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
        server_metadata_url=f"{settings.issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.scopes,
            "code_challenge_method": "S256",
            "timeout": settings.timeout_s,
        },
    )
    return client


def identity_from_claims(claims: Mapping[str, Any], settings: OidcSettings) -> OidcIdentity:
    """The identity in verified ID token claims; refuses unverified or foreign e-mail addresses."""
    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email:
        raise OidcRefused("Your identity provider did not share an e-mail address, so we can't sign you in.")
    if claims.get("email_verified") is False:
        raise OidcRefused("Your e-mail address is not verified at your identity provider.")
    domain = email.rsplit("@", 1)[1]
    if settings.allowed_domains and domain not in {d.lower() for d in settings.allowed_domains}:
        raise OidcRefused(f"Accounts from {domain} can't sign in here.")
    raw_groups = claims.get(settings.groups_claim) or []
    groups = tuple(sorted({str(g) for g in raw_groups})) if isinstance(raw_groups, list) else ()
    name = str(claims.get("name") or claims.get("preferred_username") or email.split("@")[0])
    return OidcIdentity(str(claims.get("sub") or ""), email, name[:200], groups)


def roles_from_groups(groups: Iterable[str], settings: OidcSettings) -> set[Role] | None:
    """The roles the groups grant, or None when no mapping is configured (roles are managed locally)."""
    mapping = {
        Role.ADMIN: settings.admin_groups,
        Role.KNOWLEDGE_EDITOR: settings.editor_groups,
        Role.MANAGER: settings.manager_groups,
    }
    if not any(mapping.values()):
        return None
    held = set(groups)
    return {role for role, names in mapping.items() if held & set(names)}


def upsert_employee(db_session: Session, identity: OidcIdentity, settings: OidcSettings) -> Employee:
    """The active employee for ``identity``, created on first sign-in, with roles and groups synced."""
    employee = db_session.scalar(select(Employee).where(func.lower(Employee.email) == identity.email))
    if employee is None:
        if not settings.create_accounts:
            raise OidcRefused("You don't have a Deskpilot account yet. Ask IT to add you.")
        employee = Employee(email=identity.email, display_name=identity.name)
        db_session.add(employee)
    elif not employee.is_active:
        raise OidcRefused("Your Deskpilot account is deactivated. Ask IT for help.")
    employee.display_name = identity.name or employee.display_name
    employee.external_id = employee.external_id or identity.subject or None
    employee.last_login_at = utcnow()
    roles = roles_from_groups(identity.groups, settings)
    if roles is not None:
        for grant in [g for g in employee.role_grants if g.role in _MAPPED_ROLES and g.role not in roles]:
            employee.role_grants.remove(grant)
        held = {grant.role for grant in employee.role_grants}
        employee.role_grants.extend(EmployeeRole(role=role) for role in sorted(roles - held))
    if settings.sync_groups and identity.groups:
        employee.groups = _groups(db_session, identity.groups)
    db_session.flush()
    return employee


def _groups(db_session: Session, names: tuple[str, ...]) -> list[Group]:
    found = {g.name: g for g in db_session.scalars(select(Group).where(Group.name.in_(names)))}
    for name in names:
        if name not in found:
            found[name] = Group(name=name, source="oidc")
            db_session.add(found[name])
    return [found[name] for name in names]
