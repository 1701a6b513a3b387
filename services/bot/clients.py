"""Slack Web API clients outside a Slack request (workers telling employees about their requests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from services.bot.installations import build_installation_store
from services.common.config import Settings


def slack_client_factory(settings: Settings, engine: Any) -> Callable[[str], WebClient]:
    """``team_id -> WebClient``: the configured bot token, or the team's installation (OAuth)."""
    slack = settings.slack
    if slack.oauth_enabled and engine is not None:
        assert slack.client_id is not None
        store = build_installation_store(slack.client_id, engine)

        def for_installed_team(team_id: str) -> WebClient:
            bot = store.find_bot(enterprise_id=None, team_id=team_id)
            if bot is None or not bot.bot_token:
                raise LookupError(f"Deskpilot is not installed in Slack workspace {team_id}")
            return WebClient(token=bot.bot_token, base_url=slack.api_base_url)

        return for_installed_team
    if slack.bot_token is None:
        raise ValueError("Slack is not configured")
    client = WebClient(token=slack.bot_token.get_secret_value(), base_url=slack.api_base_url)
    return lambda _team_id: client
