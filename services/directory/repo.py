"""Directory queries. Functions take a keyword-only ``db_session`` and never commit."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from services.directory.models import Employee, EmployeeRole, Group, Role


def get_employee_by_email(*, db_session: Session, email: str) -> Employee | None:
    """The employee with this e-mail (case-insensitive), groups and roles loaded."""
    return db_session.scalar(
        select(Employee)
        .where(func.lower(Employee.email) == email.strip().lower())
        .options(selectinload(Employee.groups), selectinload(Employee.role_grants))
    )


def get_or_create_employee(
    *,
    db_session: Session,
    email: str,
    display_name: str,
    department: str | None = None,
    title: str | None = None,
) -> Employee:
    """The employee with this e-mail, created when missing."""
    employee = get_employee_by_email(db_session=db_session, email=email)
    if employee is None:
        employee = Employee(
            email=email.strip().lower(), display_name=display_name, department=department, title=title
        )
        db_session.add(employee)
        db_session.flush()
    return employee


def get_or_create_group(*, db_session: Session, name: str, description: str | None = None) -> Group:
    """The group called ``name``, created when missing."""
    group = db_session.scalar(select(Group).where(Group.name == name))
    if group is None:
        group = Group(name=name, description=description)
        db_session.add(group)
        db_session.flush()
    return group


def grant_role(*, db_session: Session, employee: Employee, role: Role) -> None:
    """Give ``employee`` the role (no-op when already granted)."""
    if role not in {grant.role for grant in employee.role_grants}:
        employee.role_grants.append(EmployeeRole(role=role))


def get_employee_by_slack_id(*, db_session: Session, team_id: str, user_id: str) -> Employee | None:
    """The employee linked to this Slack user, groups loaded."""
    return db_session.scalar(
        select(Employee)
        .where(Employee.slack_team_id == team_id, Employee.slack_user_id == user_id)
        .options(selectinload(Employee.groups))
    )


def link_slack_user(
    *, db_session: Session, team_id: str, user_id: str, email: str, display_name: str, timezone: str | None
) -> Employee:
    """The employee with this e-mail (created when new), linked to the Slack user."""
    employee = get_or_create_employee(db_session=db_session, email=email, display_name=display_name)
    employee.slack_team_id, employee.slack_user_id = team_id, user_id
    if timezone and not employee.timezone:
        employee.timezone = timezone
    db_session.flush()
    return employee
