"""Seed records for the knowledge-source emulators: small IT-helpdesk articles of our own making.

Each set has published articles, one restricted article, one malformed article and at least one record
the connector must leave out (a blog post, a draft, another knowledge base or locale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0
) -> datetime:
    """A UTC datetime, shorter to write in fixtures."""
    return datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=UTC)


# --- Confluence ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfluencePageSeed:
    """One piece of Confluence content; ``title``/``body`` None make a malformed record."""

    id: str
    title: str | None
    body: str | None
    space_key: str
    space_name: str
    updated: datetime
    version: int = 1
    type: str = "page"
    status: str = "current"
    read_groups: tuple[str, ...] = ()
    read_users: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


CONFLUENCE_USER = "helpdesk-bot@acme.test"
CONFLUENCE_TOKEN = "confluence-token-1"
RESTRICTED_ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"

CONFLUENCE_PAGES: tuple[ConfluencePageSeed, ...] = (
    ConfluencePageSeed(
        id="65537",
        title="Reset your VPN token",
        body="<p>Open <strong>Self-service</strong>, choose <em>VPN</em>, then <em>Reset token</em>.</p>",
        space_key="IT",
        space_name="IT Help",
        updated=utc(2026, 3, 2, 8, 15, 0, 120),
        version=3,
        labels=("vpn",),
    ),
    ConfluencePageSeed(
        id="65538",
        title="Set up MFA on a new phone",
        body="<ol><li>Install the authenticator app.</li><li>Scan the QR code at id.acme.test.</li></ol>",
        space_key="IT",
        space_name="IT Help",
        updated=utc(2026, 3, 2, 9, 30, 45),
        version=2,
        labels=("mfa", "vpn"),
    ),
    ConfluencePageSeed(
        id="65539",
        title="Connect a printer on floor 3",
        body="<p>Add printer <code>PRN-3F-01</code> from the print server.</p>",
        space_key="IT",
        space_name="IT Help",
        updated=utc(2026, 3, 3, 10, 0, 0),
    ),
    ConfluencePageSeed(
        id="65540",
        title="Server room access procedure",
        body="<p>Badge in at the security desk; sign the access log.</p>",
        space_key="IT",
        space_name="IT Help",
        updated=utc(2026, 3, 3, 11, 20, 0),
        read_groups=("it-admins",),
        read_users=(RESTRICTED_ACCOUNT_ID,),
    ),
    ConfluencePageSeed(
        id="65541",
        title="Request parental leave",
        body="<p>Submit the leave form in the HR portal eight weeks ahead.</p>",
        space_key="HR",
        space_name="People Team",
        updated=utc(2026, 3, 1, 12, 0, 0),
    ),
    ConfluencePageSeed(
        id="65542",
        title="Wi-Fi for guests",
        body=None,  # malformed: the body expansion is missing
        space_key="IT",
        space_name="IT Help",
        updated=utc(2026, 3, 2, 10, 0, 0),
    ),
    ConfluencePageSeed(
        id="65543",
        title="IT newsletter, March",
        body="<p>New laptops arrive in April.</p>",
        space_key="IT",
        space_name="IT Help",
        updated=utc(2026, 3, 2, 9, 45, 0),
        type="blogpost",
    ),
)


# --- ServiceNow ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceNowArticleSeed:
    """One ``kb_knowledge`` record; an empty ``short_description`` makes a malformed record."""

    sys_id: str
    number: str
    short_description: str
    text: str
    updated: datetime
    knowledge_base: str
    category_sys_id: str
    category_name: str
    workflow_state: str = "published"
    roles: tuple[str, ...] = ()
    can_read_user_criteria: tuple[tuple[str, str], ...] = ()  # (sys_id, name)


SERVICENOW_USER = "svc.deskpilot"
SERVICENOW_PASSWORD = "servicenow-password-1"
IT_KB = "a0b1c2d3e4f5061728394a5b6c7d8e9f"
HR_KB = "f9e8d7c6b5a4039281706f5e4d3c2b1a"
NETWORK_CRITERION = "1f2e3d4c5b6a79881726354453627180"

SERVICENOW_ARTICLES: tuple[ServiceNowArticleSeed, ...] = (
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e801",
        number="KB0010001",
        short_description="How to reset your Windows password",
        text="<p>Press Ctrl+Alt+Del and choose <b>Change a password</b>.</p>",
        updated=utc(2026, 3, 2, 8, 0, 0),
        knowledge_base=IT_KB,
        category_sys_id="c0000000000000000000000000000001",
        category_name="Accounts",
    ),
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e802",
        number="KB0010002",
        short_description="Request a new laptop",
        text="<p>Order from the Service Catalog under <i>Hardware</i>.</p>",
        updated=utc(2026, 3, 2, 9, 30, 0),
        knowledge_base=IT_KB,
        category_sys_id="c0000000000000000000000000000002",
        category_name="Hardware",
    ),
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e803",
        number="KB0010003",
        short_description="Configure company email on iOS",
        text="<p>Settings, Mail, Accounts, Add Account, Microsoft Exchange.</p>",
        updated=utc(2026, 3, 3, 10, 0, 0),
        knowledge_base=IT_KB,
        category_sys_id="c0000000000000000000000000000003",
        category_name="Email",
    ),
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e804",
        number="KB0010004",
        short_description="Firewall change procedure",
        text="<p>Raise a normal change with the rule diff attached.</p>",
        updated=utc(2026, 3, 3, 11, 0, 0),
        knowledge_base=IT_KB,
        category_sys_id="c0000000000000000000000000000004",
        category_name="Network",
        roles=("itil", "network_admin"),
        can_read_user_criteria=((NETWORK_CRITERION, "Network team"),),
    ),
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e805",
        number="KB0010005",
        short_description="Guest Wi-Fi access (draft)",
        text="<p>Not ready yet.</p>",
        updated=utc(2026, 3, 2, 12, 0, 0),
        knowledge_base=IT_KB,
        category_sys_id="c0000000000000000000000000000004",
        category_name="Network",
        workflow_state="draft",
    ),
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e806",
        number="KB0010006",
        short_description="",  # malformed: no title
        text="<p>Orphaned text.</p>",
        updated=utc(2026, 3, 2, 10, 0, 0),
        knowledge_base=IT_KB,
        category_sys_id="c0000000000000000000000000000001",
        category_name="Accounts",
    ),
    ServiceNowArticleSeed(
        sys_id="0a1b2c3d4e5f60718293a4b5c6d7e807",
        number="KB0020001",
        short_description="Submit an expense claim",
        text="<p>Use the Expenses app within 30 days.</p>",
        updated=utc(2026, 3, 2, 9, 45, 0),
        knowledge_base=HR_KB,
        category_sys_id="c0000000000000000000000000000009",
        category_name="Finance",
    ),
)


# --- Zendesk -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZendeskArticleSeed:
    """One Help Center article; ``title``/``body`` None make a malformed record."""

    id: int
    title: str | None
    body: str | None
    updated: datetime
    section_id: int
    locale: str = "en-us"
    draft: bool = False
    user_segment_id: int | None = None
    label_names: tuple[str, ...] = ()


ZENDESK_EMAIL = "agent@acme.test"
ZENDESK_TOKEN = "zendesk-token-1"
ADMIN_SEGMENT = 777

ZENDESK_ARTICLES: tuple[ZendeskArticleSeed, ...] = (
    ZendeskArticleSeed(
        id=360001,
        title="Install the VPN client",
        body="<p>Download the client from the Software Center and sign in with SSO.</p>",
        updated=utc(2026, 3, 2, 8, 0, 0),
        section_id=100,
        label_names=("vpn", "remote"),
    ),
    ZendeskArticleSeed(
        id=360002,
        title="Reset your SSO password",
        body="<p>Use <a href='https://id.acme.test'>id.acme.test</a>, then Forgot password.</p>",
        updated=utc(2026, 3, 2, 9, 30, 0),
        section_id=100,
    ),
    ZendeskArticleSeed(
        id=360003,
        title="Order a headset",
        body="<p>Headsets are in the Hardware catalogue.</p>",
        updated=utc(2026, 3, 3, 10, 0, 0),
        section_id=200,
    ),
    ZendeskArticleSeed(
        id=360004,
        title="Rotate service account keys",
        body="<p>Run the rotation job in the vault console.</p>",
        updated=utc(2026, 3, 3, 11, 0, 0),
        section_id=300,
        user_segment_id=ADMIN_SEGMENT,
    ),
    ZendeskArticleSeed(
        id=360005,
        title="New printer fleet (draft)",
        body="<p>Coming soon.</p>",
        updated=utc(2026, 3, 2, 12, 0, 0),
        section_id=200,
        draft=True,
    ),
    ZendeskArticleSeed(
        id=360006,
        title="Book a meeting room",
        body=None,  # malformed: body is null
        updated=utc(2026, 3, 2, 10, 0, 0),
        section_id=200,
    ),
    ZendeskArticleSeed(
        id=360007,
        title="VPN-Client installieren",
        body="<p>Laden Sie den Client aus dem Software Center.</p>",
        updated=utc(2026, 3, 2, 9, 40, 0),
        section_id=100,
        locale="de",
    ),
)
