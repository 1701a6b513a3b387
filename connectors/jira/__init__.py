"""Jira adapters (Jira Cloud / Jira Service Management issues as a ticket system)."""

from connectors.jira.tickets import JiraTicketSystem

__all__ = ["JiraTicketSystem"]
