"""The demo company's people (Northwind Labs): used by ``deskpilot demo`` and ``make run``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.directory import repo
from services.directory.models import Employee, Role


@dataclass(frozen=True)
class DemoPerson:
    """One demo employee."""

    email: str
    name: str
    department: str
    title: str
    groups: tuple[str, ...]
    roles: tuple[Role, ...] = ()
    manager: str | None = None


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        "maria.manager@northwind.example",
        "Maria Alvarez",
        "Operations",
        "Head of Operations",
        ("managers",),
        (Role.MANAGER,),
    ),
    DemoPerson(
        "ian.it@northwind.example",
        "Ian Okafor",
        "IT",
        "IT Lead",
        ("it-staff",),
        (Role.ADMIN,),
        "maria.manager@northwind.example",
    ),
    DemoPerson(
        "kim.editor@northwind.example",
        "Kim Larsen",
        "IT",
        "Service Desk Analyst",
        ("it-staff",),
        (Role.KNOWLEDGE_EDITOR,),
        "ian.it@northwind.example",
    ),
    DemoPerson(
        "fiona.finance@northwind.example",
        "Fiona Chen",
        "Finance",
        "Accountant",
        ("finance",),
        (),
        "maria.manager@northwind.example",
    ),
    DemoPerson(
        "harper.hr@northwind.example",
        "Harper Singh",
        "People",
        "HR Partner",
        ("hr",),
        (),
        "maria.manager@northwind.example",
    ),
    DemoPerson(
        "sam.sales@northwind.example",
        "Sam Rivera",
        "Sales",
        "Account Executive",
        ("sales",),
        (),
        "maria.manager@northwind.example",
    ),
)


def seed_demo_directory(db_session: Session) -> list[Employee]:
    """Create the demo people, groups, roles and reporting lines (idempotent)."""
    people: dict[str, Employee] = {}
    for person in DEMO_PEOPLE:
        employee = repo.get_or_create_employee(
            db_session=db_session,
            email=person.email,
            display_name=person.name,
            department=person.department,
            title=person.title,
        )
        for group_name in person.groups:
            group = repo.get_or_create_group(db_session=db_session, name=group_name)
            if group not in employee.groups:
                employee.groups.append(group)
        for role in person.roles:
            repo.grant_role(db_session=db_session, employee=employee, role=role)
        people[person.email] = employee
    for person in DEMO_PEOPLE:
        if person.manager:
            people[person.email].manager = people[person.manager]
    db_session.flush()
    return list(people.values())
