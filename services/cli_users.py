"""``deskpilot users create``: local accounts for the web app's sign-in."""

from __future__ import annotations

import typer

from services.common.config import Settings
from services.common.db import session_scope


def run_create(settings: Settings, *, email: str, name: str, roles: list[str], password: str) -> int:
    """Create (or update) the employee's password and roles; prints what was done, never the password."""
    from services.admin.auth import hash_password
    from services.audit import repo as audit
    from services.cli_knowledge import database_runtime
    from services.directory import repo as directory
    from services.directory.models import EmployeeRole, Role

    try:
        wanted = {Role(r.strip().lower()) for r in roles}
        password_hash = hash_password(password)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    with database_runtime(settings) as session_factory, session_scope(session_factory) as db_session:
        employee = directory.get_or_create_employee(
            db_session=db_session, email=email.strip().lower(), display_name=name
        )
        employee.display_name = name
        employee.password_hash = password_hash
        employee.is_active = True
        granted = {grant.role for grant in employee.role_grants}
        for role in sorted(wanted - granted - {Role.EMPLOYEE}):
            employee.role_grants.append(EmployeeRole(role=role))
        audit.record(
            db_session,
            action="user.created",
            target_type="employee",
            target_id=employee.id,
            actor_label="cli",
            details={"roles": sorted(r.value for r in wanted)},
        )
        summary = ", ".join(sorted(r.value for r in employee.roles))
    typer.echo(f"{email}: password set; roles {summary}")
    return 0
