"""Settings: the only reader of the environment.

Every process entry point calls :func:`get_settings` once and passes the object into factories.
Variables use the prefix ``DESKPILOT_`` and ``__`` between nested groups, e.g.
``DESKPILOT_DATABASE__URL`` or ``DESKPILOT_CHROMA__HOST``. A ``.env`` file in the working directory
is read too.
The defaults are the embedded profile (ARCHITECTURE.md §0): SQLite and Chroma under ``./var``,
Celery eager, no LLM, built-in ticket store and directory.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"


class Environment(StrEnum):
    """Where the process runs; production turns on the strict checks."""

    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseModel):
    """Relational database (SQLAlchemy URL)."""

    url: str = "sqlite:///./var/deskpilot.db"
    echo: bool = False
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout_s: float = Field(default=10.0, gt=0)

    @property
    def is_sqlite(self) -> bool:
        """True when the URL points at SQLite (the embedded default)."""
        return self.url.startswith("sqlite")


class RedisSettings(BaseModel):
    """Redis for event dedupe, rate limits and the Celery broker; unset on the embedded default."""

    url: str | None = None
    socket_timeout_s: float = Field(default=2.0, gt=0)


class CelerySettings(BaseModel):
    """Background work. Without a broker, tasks run eagerly in-process (same task code)."""

    broker_url: str | None = None
    result_backend: str | None = None
    always_eager: bool | None = None
    visibility_timeout_s: int = Field(default=3600, ge=60)

    def eager(self, redis: RedisSettings) -> bool:
        """Run tasks in-process: explicit setting, else True when no broker can be derived."""
        if self.always_eager is not None:
            return self.always_eager
        return self.effective_broker_url(redis) is None

    def effective_broker_url(self, redis: RedisSettings) -> str | None:
        """The broker URL: explicit, else the Redis URL."""
        return self.broker_url or redis.url


class ChromaSettings(BaseModel):
    """Vector index: a local PersistentClient under ``path``, or a Chroma server when ``host`` is set."""

    path: Path = Path("./var/chroma")
    host: str | None = None
    port: int = 8000
    ssl: bool = False
    auth_token: SecretStr | None = None
    collection: str = "deskpilot-chunks"
    timeout_s: float = Field(default=15.0, gt=0)  # per HTTP request to a Chroma server
    outage_cooldown_s: float = Field(default=15.0, ge=0)  # after a failure, answer from BM25 this long


class EmbeddingSettings(BaseModel):
    """Embeddings: the bundled all-MiniLM-L6-v2, or an OpenAI-compatible endpoint."""

    provider: Literal["local", "openai"] = "local"
    model: str = "all-MiniLM-L6-v2"
    dimension: int = Field(default=384, ge=1)
    base_url: str | None = None
    api_key: SecretStr | None = None
    batch_size: int = Field(default=32, ge=1)


class KnowledgeSettings(BaseModel):
    """Knowledge base: lexical index location, retrieval sizes and the answer threshold."""

    bm25_path: Path = Path("./var/bm25")
    top_k: int = Field(default=5, ge=1)
    reranker_model: Path | None = None
    min_relevance: float = Field(default=0.45, ge=0, le=1)  # best F1 on StackFAQ vs CLINC150 (bench)
    embedding: EmbeddingSettings = EmbeddingSettings()


class SourceSettings(BaseModel):
    """One knowledge source, e.g. ``DESKPILOT_SOURCES__WIKI__KIND=confluence``, ``..__URL``, ``..__TOKEN``."""

    kind: Literal["folder", "jsonl", "confluence", "servicenow", "zendesk"]
    path: Path | None = None
    url: str | None = None
    username: str | None = None
    token: SecretStr | None = None
    spaces: list[str] = Field(default_factory=list)
    knowledge_bases: list[str] = Field(default_factory=list)
    locale: str = "en-us"
    limit: int | None = Field(default=None, ge=1)


class DemoSettings(BaseModel):
    """What ``deskpilot demo`` (and ``make run``) loads."""

    datasets_dir: Path = Path("../shared/datasets")
    ms_office_articles: int = Field(default=300, ge=0)


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat endpoint; with no base URL and no key the product answers extractively."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(default=20.0, gt=0)
    max_tokens: int = Field(default=600, ge=1)
    temperature: float = Field(default=0.0, ge=0, le=2)

    @property
    def enabled(self) -> bool:
        """True when an endpoint or a key is configured."""
        return self.base_url is not None or self.api_key is not None


class SlackSettings(BaseModel):
    """Slack app credentials; Socket Mode needs the app-level token."""

    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_base_url: str = "https://slack.com/api/"
    handoff_channel: str | None = None
    messages_per_minute: int = Field(default=20, ge=1)
    listener_threads: int = Field(default=2, ge=1, le=64)  # answer threads per process (bench/slack_load)

    @property
    def oauth_enabled(self) -> bool:
        """True when the app is distributed by OAuth (client id and secret): one bot token per workspace."""
        return self.client_id is not None and self.client_secret is not None

    @property
    def enabled(self) -> bool:
        """True when a bot token (one workspace) or OAuth credentials (many) are configured."""
        return self.bot_token is not None or self.oauth_enabled


class TicketingSettings(BaseModel):
    """Which ITSM holds tickets, and how to reach it.

    ``jira``, ``servicenow`` and ``zendesk`` need ``base_url``, ``username`` (the account's e-mail for Jira
    and Zendesk, the integration user for ServiceNow) and ``api_token`` (the ServiceNow password); Jira
    also ``project_key`` (and ``issue_type``, ``Task`` by default). Without ``webhook_secret`` status
    webhooks are refused.
    """

    kind: Literal["builtin", "jira", "servicenow", "zendesk"] = "builtin"
    base_url: str | None = None
    username: str | None = None
    api_token: SecretStr | None = None
    project_key: str | None = None
    issue_type: str = "Task"
    webhook_secret: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=4, ge=1)
    """Tries of one read within a task attempt (429, 5xx and timeouts, with a short backoff); writes are
    sent once, except after a 429. Then the task itself retries (see ``AutomationsSettings``)."""


class AutomationsSettings(BaseModel):
    """How automation runs ride out outages of the ITSM and the directory.

    A retryable failure (5xx, 429, timeout) retries the run's task after a random wait of up to
    ``retry_base_s`` doubled per retry (at most ``retry_max_s``, never sooner than ``Retry-After``), at
    most ``max_retries`` times (the default 12 waits about 14 minutes in all, on average: an ITSM
    restart or a short maintenance window); then the run fails and the requester is told. A ticket
    create or comment add that got no answer (timeout, 5xx) may still land: the run looks it up for
    ``create_settle_s`` before sending it again.
    """

    max_retries: int = Field(default=12, ge=0)
    retry_base_s: float = Field(default=2.0, gt=0)
    retry_max_s: float = Field(default=300.0, gt=0)
    create_settle_s: float = Field(default=120.0, ge=0)


class IdentitySettings(BaseModel):
    """Which directory holds accounts (password resets, unlocks, group memberships), and how to reach it.

    ``okta`` needs ``base_url`` (the org URL) and ``api_token``; ``graph`` (Microsoft Entra ID) needs
    ``tenant_id``, ``client_id`` and ``client_secret``, with ``base_url`` and ``token_url`` defaulting to
    Microsoft Graph v1.0 and the tenant's token endpoint in the public cloud.
    """

    kind: Literal["builtin", "okta", "graph"] = "builtin"
    base_url: str | None = None
    api_token: SecretStr | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)


class RouterSettings(BaseModel):
    """Intent routing thresholds (tuned on data; see the router benchmark)."""

    confidence_threshold: float = Field(default=0.5, ge=0, le=1)
    ambiguity_threshold: float = Field(default=0.1, ge=0, le=1)
    model_dir: Path = Path("./var/models")


class OidcSettings(BaseModel):
    """OpenID Connect single sign-on (authorization code flow with PKCE), e.g. Okta, Entra ID, Keycloak.

    Enabled when ``issuer`` and ``client_id`` are set; the provider's discovery document
    (``{issuer}/.well-known/openid-configuration``) supplies the endpoints and signing keys. The claim
    named ``groups_claim`` maps to roles (``*_groups``) and, with ``sync_groups``, replaces the person's
    directory groups (article audiences). People are created on first sign-in unless
    ``create_accounts`` is off; ``allowed_domains`` limits which e-mail domains may sign in.
    """

    issuer: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    display_name: str = "single sign-on"
    scopes: str = "openid email profile"
    groups_claim: str = "groups"
    admin_groups: list[str] = Field(default_factory=list)
    editor_groups: list[str] = Field(default_factory=list)
    manager_groups: list[str] = Field(default_factory=list)
    sync_groups: bool = True
    create_accounts: bool = True
    allowed_domains: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0)

    @property
    def enabled(self) -> bool:
        """True when an issuer and a client are configured."""
        return bool(self.issuer and self.client_id)


class WebSettings(BaseModel):
    """The FastAPI web app (admin UI, web chat, Slack HTTP endpoints, health).

    ``local_accounts`` allows e-mail + password sign-in (argon2 hashes; the embedded default); turn it
    off when single sign-on is the only way in.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    public_url: str = "http://localhost:8000"
    readiness_timeout_s: float = Field(default=3.0, gt=0)
    local_accounts: bool = True
    oidc: OidcSettings = OidcSettings()


class ReportsSettings(BaseModel):
    """Management reports: the weekly ROI digest sent to managers in Slack by Celery beat."""

    weekly_digest: bool = True
    timezone: str = "UTC"
    """IANA time zone of the digest's schedule (Monday ``digest_hour``:00) and of "last week"."""
    digest_hour: int = Field(default=8, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        return zone


class LLMPrice(BaseModel):
    """What one model costs, in USD per 1,000 tokens (prompt and completion priced apart)."""

    prompt_per_1k: float = Field(default=0.0, ge=0)
    completion_per_1k: float = Field(default=0.0, ge=0)


DEFAULT_LLM_PRICES: dict[str, LLMPrice] = {
    # OpenAI list prices (USD per 1k tokens) when this table was written; estimates only, override them.
    "gpt-4o-mini": LLMPrice(prompt_per_1k=0.00015, completion_per_1k=0.0006),
    "gpt-4o": LLMPrice(prompt_per_1k=0.0025, completion_per_1k=0.01),
}


class MetricsSettings(BaseModel):
    """Prometheus: the scrape port of processes with no web server, and the LLM price table.

    ``port`` (``DESKPILOT_METRICS__PORT``) makes the Celery worker, beat and the Socket Mode bot serve
    ``/metrics`` on that port; the web app always serves it on its own port. ``llm_prices`` maps a model
    name to its price (JSON, e.g. ``{"my-model": {"prompt_per_1k": 0.001, "completion_per_1k": 0.002}}``);
    a model missing from the table costs 0.
    """

    port: int | None = Field(default=None, ge=1, le=65535)
    llm_prices: dict[str, LLMPrice] = Field(default_factory=lambda: dict(DEFAULT_LLM_PRICES))


class Settings(BaseSettings):
    """All configuration of one Deskpilot process."""

    model_config = SettingsConfigDict(
        env_prefix="DESKPILOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = Environment.DEV
    data_dir: Path = Path("./var")
    log_level: str = "INFO"
    log_json: bool = True

    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    celery: CelerySettings = CelerySettings()
    chroma: ChromaSettings = ChromaSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    llm: LLMSettings = LLMSettings()
    slack: SlackSettings = SlackSettings()
    ticketing: TicketingSettings = TicketingSettings()
    automations: AutomationsSettings = AutomationsSettings()
    identity: IdentitySettings = IdentitySettings()
    router: RouterSettings = RouterSettings()
    web: WebSettings = WebSettings()
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    demo: DemoSettings = DemoSettings()
    reports: ReportsSettings = ReportsSettings()
    metrics: MetricsSettings = MetricsSettings()
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    )
    """prometheus_client's multi-process directory (its own variable, read here so nothing else reads the
    environment): set for the prefork Celery worker, whose pool children write their metrics there."""

    @model_validator(mode="after")
    def _enforce_production_secrets(self) -> Settings:
        """Refuse placeholder secrets and the embedded database outside dev and test."""
        if self.environment is not Environment.PRODUCTION:
            return self
        problems: list[str] = []
        if self.web.secret_key.get_secret_value() in ("", PLACEHOLDER_SECRET):
            problems.append("DESKPILOT_WEB__SECRET_KEY must be set to a real secret in production")
        if self.slack.enabled and self.slack.signing_secret is None:
            problems.append("DESKPILOT_SLACK__SIGNING_SECRET is required when Slack is configured")
        if self.database.is_sqlite:
            problems.append("DESKPILOT_DATABASE__URL must point at PostgreSQL in production")
        if self.web.oidc.enabled and self.web.oidc.client_secret is None:
            problems.append("DESKPILOT_WEB__OIDC__CLIENT_SECRET is required for single sign-on")
        if not self.web.local_accounts and not self.web.oidc.enabled:
            problems.append("with DESKPILOT_WEB__LOCAL_ACCOUNTS=false, configure DESKPILOT_WEB__OIDC__*")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment and ``.env``."""
    return Settings()
