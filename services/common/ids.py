"""Idempotency-key and reference builders: the same input always gives the same key."""

from __future__ import annotations

import secrets


def slack_event_key(team_id: str, event_id: str) -> str:
    """Key for one Slack event delivery, stable across Slack's retries of that event."""
    return f"slack:{team_id}:{event_id}"


def automation_key(kind: str, *parts: str) -> str:
    """Key for an automation run, built from its kind and the values that make it unique."""
    return ":".join(("auto", kind, *parts))


def new_reference_id() -> str:
    """A short random reference an employee can quote to support (e.g. ``ERR-7K3Q9XA2``)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "ERR-" + "".join(secrets.choice(alphabet) for _ in range(8))
