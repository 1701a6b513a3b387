"""Multi-workspace Slack installs: Bolt's SQLAlchemy installation and OAuth state stores on our database.

The tables are declared on ``Base.metadata`` with the stores' own column definitions, so Alembic owns
them (migration 0003) and the stores never call ``create_all`` at runtime. Bot tokens are stored as
Slack returns them: protect the database as you protect the Slack signing secret.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine

from services.common.db import Base

INSTALLATIONS_TABLE = SQLAlchemyInstallationStore.build_installations_table(
    Base.metadata, SQLAlchemyInstallationStore.default_installations_table_name
)
BOTS_TABLE = SQLAlchemyInstallationStore.build_bots_table(
    Base.metadata, SQLAlchemyInstallationStore.default_bots_table_name
)
OAUTH_STATES_TABLE = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    Base.metadata, SQLAlchemyOAuthStateStore.default_table_name
)

OAUTH_STATE_TTL_S = 600
"""How long an install link stays valid (Slack's consent screen plus a coffee)."""

BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "chat:write",
    "commands",
    "groups:history",
    "im:history",
    "im:read",
    "im:write",
    "reactions:write",
    "users:read",
    "users:read.email",
)
"""What Deskpilot asks for at install: read what is addressed to it, reply, react, look up e-mails."""


def build_installation_store(client_id: str, engine: Engine) -> SQLAlchemyInstallationStore:
    """Installations (one bot token per workspace) in our database."""
    return SQLAlchemyInstallationStore(client_id=client_id, engine=engine)


def build_oauth_state_store(engine: Engine) -> SQLAlchemyOAuthStateStore:
    """One-time ``state`` values of install links (CSRF protection of the OAuth redirect)."""
    return SQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_TTL_S, engine=engine)
