"""Employees, groups and roles: who asks, who approves, who may see what."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, TimestampMixin


class Role(StrEnum):
    """What a person may do in the web app; every employee implicitly has EMPLOYEE."""

    ADMIN = "admin"
    KNOWLEDGE_EDITOR = "knowledge_editor"
    MANAGER = "manager"
    EMPLOYEE = "employee"


employee_groups = Table(
    "employee_groups",
    Base.metadata,
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class Group(TimestampMixin, Base):
    """A directory group; article audiences and access requests refer to groups by name."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    external_id: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32), default="builtin")


class EmployeeRole(Base):
    """One role granted to one employee."""

    __tablename__ = "employee_roles"

    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(StrEnumType(Role), primary_key=True)


class Employee(TimestampMixin, Base):
    """A person Deskpilot serves, known by email and, once seen in Slack, by Slack user id."""

    __tablename__ = "employees"
    __table_args__ = (UniqueConstraint("slack_team_id", "slack_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    slack_team_id: Mapped[str | None] = mapped_column(String(32))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None]

    manager: Mapped[Employee | None] = relationship(remote_side=[id], back_populates="reports")
    reports: Mapped[list[Employee]] = relationship(back_populates="manager")
    groups: Mapped[list[Group]] = relationship(secondary=employee_groups)
    role_grants: Mapped[list[EmployeeRole]] = relationship(cascade="all, delete-orphan")

    @property
    def roles(self) -> frozenset[Role]:
        """Granted roles plus the implicit EMPLOYEE role."""
        return frozenset({Role.EMPLOYEE, *(grant.role for grant in self.role_grants)})

    @property
    def group_names(self) -> frozenset[str]:
        """Names of the groups this employee belongs to (used for permission-aware retrieval)."""
        return frozenset(group.name for group in self.groups)
