"""GraphIdentityProvider against the Microsoft Graph and token endpoint emulator, over real HTTP."""

from __future__ import annotations

import string
from collections.abc import Iterator

import httpx
import pytest

from connectors.errors import AuthError, RemoteRejectedError, RemoteUnavailableError
from connectors.http import ClientOptions
from connectors.models import DirectoryUser
from connectors.msgraph import GraphIdentityProvider
from connectors.msgraph.identity import generate_temporary_password
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.identity_checks import IdentityProviderContract, IdentityWorld
from tests.emulators.msgraph import GraphGroupSeed, GraphUserSeed, build_app
from tests.emulators.ticket_checks import emulator_fixture

TENANT = "7f3c2a10-5b6d-4e8f-9a01-23456789abcd"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CLIENT_SECRET = "s3cr3t~client~value~for~tests"
API = "/v1.0"
TOKEN_PATH = f"/{TENANT}/oauth2/v2.0/token"
ADA = "11111111-1111-4111-8111-111111111111"  # UPN ada@contoso.com
BOB = "22222222-2222-4222-8222-222222222222"  # UPN bob.k@contoso.onmicrosoft.com, mail bob@contoso.com
CYD = "33333333-3333-4333-8333-333333333333"  # smart-locked out (Graph cannot tell)
DEE = "44444444-4444-4444-8444-444444444444"  # disabled
EVE = "55555555-5555-4555-8555-555555555555"  # synchronised from on-premises AD
SHARED_A, SHARED_B = "66666666-6666-4666-8666-666666666666", "77777777-7777-4777-8777-777777777777"
NOBODY = "99999999-9999-4999-8999-999999999999"
VPN = "aaaaaaaa-0000-4000-8000-000000000001"
EVERYONE = "aaaaaaaa-0000-4000-8000-000000000002"
FILLERS = tuple(f"aaaaaaaa-0000-4000-8000-00000000001{n}" for n in range(4))
LAST_OF_ADA = "aaaaaaaa-0000-4000-8000-000000000009"
UNKNOWN_GROUP = "aaaaaaaa-0000-4000-8000-000000000099"

USERS = [
    GraphUserSeed(ADA, "ada@contoso.com", "ada@contoso.com", "Ada Lovelace"),
    GraphUserSeed(BOB, "bob.k@contoso.onmicrosoft.com", "bob@contoso.com", "Bob Kahn"),
    GraphUserSeed(CYD, "cyd@contoso.com", "cyd@contoso.com", "Cyd Charisse", locked_out=True),
    GraphUserSeed(DEE, "dee@contoso.com", "dee@contoso.com", "Dee Dee", account_enabled=False),
    GraphUserSeed(EVE, "eve@contoso.com", "eve@contoso.com", "Eve Arden", on_premises_sync_enabled=True),
    GraphUserSeed(SHARED_A, "desk.a@contoso.com", "frontdesk@contoso.com", "Front Desk A"),
    GraphUserSeed(SHARED_B, "desk.b@contoso.com", "frontdesk@contoso.com", "Front Desk B"),
]
GROUPS = [
    GraphGroupSeed(VPN, "VPN users", members=(BOB,)),
    GraphGroupSeed(EVERYONE, "Everyone", members=tuple(u.id for u in USERS)),
    *(GraphGroupSeed(gid, f"Team {n}", members=(ADA,)) for n, gid in enumerate(FILLERS)),
    GraphGroupSeed(LAST_OF_ADA, "Ops", members=(ADA,)),
]


class FakeClock:
    """A monotonic clock the test moves by hand (token expiry without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class GraphWorld(IdentityWorld[GraphIdentityProvider]):
    system = "graph"
    api_prefix = API
    user_email = "ada@contoso.com"
    user_id = ADA
    user_display_name = "Ada Lovelace"
    alias_email = "bob@contoso.com"
    alias_user_id = BOB
    missing_email = "nobody@contoso.com"
    shared_email = "frontdesk@contoso.com"
    missing_user_id = NOBODY
    locked_user_id = CYD
    group_id = VPN
    member_group_id = EVERYONE
    unknown_group_id = UNKNOWN_GROUP
    reset_kind = "temporary_password"
    unlock_supported = False

    def __init__(self, emulator: RunningEmulator) -> None:
        super().__init__(emulator)
        self.clock = FakeClock()  # shared by the providers of one test

    def build(
        self, *, valid_credentials: bool, timeout_s: float, options: ClientOptions
    ) -> GraphIdentityProvider:
        return self.provider(
            CLIENT_ID, CLIENT_SECRET if valid_credentials else "not-the-secret", timeout_s, options
        )

    def provider(
        self, client_id: str, client_secret: str, timeout_s: float, options: ClientOptions
    ) -> GraphIdentityProvider:
        """An adapter for this tenant with any client credentials."""
        return GraphIdentityProvider(
            f"{self.emulator.base_url}{API}",
            tenant_id=TENANT,
            client_id=client_id,
            client_secret=client_secret,
            token_url=f"{self.emulator.base_url}{TOKEN_PATH}",
            timeout_s=timeout_s,
            clock=self.clock,
            **options,
        )

    def inject_rate_limit(self, times: int) -> None:
        body = {"error": {"code": "TooManyRequests", "message": "Too many requests."}}
        self.inject(status=429, times=times, retry_after="1", path_prefix=API, body=body)

    def token_calls(self) -> list[dict[str, object]]:
        return self.calls(TOKEN_PATH)


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    """One tenant for the module, reset to the seeds before each test; memberOf pages hold two groups."""
    app, state = build_app(
        USERS,
        GROUPS,
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        max_page_size=2,
    )
    with serve_emulator(app, state) as running:
        yield running


world = emulator_fixture(GraphWorld, "world")


class TestGraphContract(IdentityProviderContract):
    """The shared IdentityProvider contract, against Microsoft Graph."""


# ---- tokens -------------------------------------------------------------------------------------------


def test_graph_token_request_is_the_client_credentials_form(world: GraphWorld) -> None:
    world.make_provider().find_user("ada@contoso.com")

    (call,) = world.token_calls()
    form = dict(httpx.QueryParams(str(call["json"])))
    assert form == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }
    graph_call = world.calls(API)[0]
    assert str(graph_call["headers"]["authorization"]).startswith("Bearer ")


def test_graph_token_cached_across_operations(world: GraphWorld) -> None:
    provider = world.make_provider()

    provider.find_user("ada@contoso.com")
    provider.is_member(ADA, EVERYONE)
    provider.add_to_group(ADA, VPN)
    provider.reset_password(ADA)

    assert len(world.token_calls()) == 1
    assert len({str(call["headers"]["authorization"]) for call in world.calls(API)}) == 1


def test_graph_token_renewed_when_it_expires(world: GraphWorld) -> None:
    provider, clock = world.make_provider(), world.clock
    provider.find_user("ada@contoso.com")

    clock.now += 3599 - 301  # one second before the renewal point (five minutes before expiry)
    provider.find_user("ada@contoso.com")
    assert len(world.token_calls()) == 1

    clock.now += 2  # past it
    provider.find_user("ada@contoso.com")
    assert len(world.token_calls()) == 2
    assert len({str(call["headers"]["authorization"]) for call in world.calls(API)}) == 2


def test_graph_revoked_token_renewed_once_and_call_repeated(world: GraphWorld) -> None:
    provider = world.make_provider()
    provider.find_user("ada@contoso.com")
    world.control("POST", "/_revoke_tokens")

    user = provider.find_user("ada@contoso.com")

    assert user is not None and user.user_id == ADA
    assert len(world.token_calls()) == 2


def test_graph_token_rejected_twice_raises_auth_error(world: GraphWorld) -> None:
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}}
    world.inject(status=401, times=2, path_prefix=API, body=body)

    with pytest.raises(AuthError, match="Access token validation failure"):
        world.make_provider().find_user("ada@contoso.com")

    assert len(world.token_calls()) == 2
    assert len(world.calls(API)) == 2


def test_graph_unknown_client_raises_auth_error(world: GraphWorld) -> None:
    unknown_client = "00000000-0000-4000-8000-000000000000"
    provider = world.opened(world.provider(unknown_client, CLIENT_SECRET, 5.0, {"max_attempts": 1}))

    with pytest.raises(AuthError, match="unauthorized_client") as raised:
        provider.find_user("ada@contoso.com")

    assert raised.value.system == "graph"
    assert len(world.token_calls()) == 1


def test_graph_token_endpoint_outage_once_is_retried(world: GraphWorld) -> None:
    world.inject(status=503, times=1, path_prefix=TOKEN_PATH)
    delays: list[float] = []

    user = world.make_provider(sleep=delays.append).find_user("ada@contoso.com")

    assert user is not None and user.user_id == ADA
    assert len(world.token_calls()) == 2
    assert len(delays) == 1


def test_graph_token_endpoint_outage_raises_unavailable(world: GraphWorld) -> None:
    world.inject(status=503, times=10, path_prefix=TOKEN_PATH)

    with pytest.raises(RemoteUnavailableError, match="token endpoint") as raised:
        world.make_provider(max_attempts=3).find_user("ada@contoso.com")

    assert raised.value.system == "graph"
    assert len(world.token_calls()) == 3
    assert world.calls(API) == []


def test_graph_secrets_stay_out_of_logs_and_repr(world: GraphWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    provider = world.make_provider()
    provider.find_user("ada@contoso.com")

    issued = str(world.calls(API)[0]["headers"]["authorization"]).removeprefix("Bearer ")
    logged = "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)
    for secret in (CLIENT_SECRET, issued):
        assert secret not in logged
        assert secret not in repr(provider)


# ---- Graph specifics ----------------------------------------------------------------------------------


def test_graph_reset_password_sets_forced_change_with_returned_password(world: GraphWorld) -> None:
    reset = world.make_provider().reset_password(ADA)

    (patch,) = world.mutating_calls()
    assert patch["method"] == "PATCH" and patch["path"] == f"{API}/users/{ADA}"
    assert patch["json"] == {
        "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": reset.temporary_password}
    }
    user = world.state()["users"][ADA]
    assert user["password"] == reset.temporary_password
    assert user["forceChangePasswordNextSignIn"] is True


def test_graph_reset_password_ends_smart_lockout_but_unlock_explains(world: GraphWorld) -> None:
    provider = world.make_provider()

    with pytest.raises(RemoteRejectedError, match="password reset unlocks"):
        provider.unlock(CYD)
    provider.reset_password(CYD)

    assert world.state()["users"][CYD]["lockedOut"] is False


def test_graph_unlock_disabled_account_never_enables_it(world: GraphWorld) -> None:
    with pytest.raises(RemoteRejectedError, match="disabled") as raised:
        world.make_provider().unlock(DEE)

    assert "not done automatically" in str(raised.value)
    state = world.state()
    assert state["users"][DEE]["accountEnabled"] is False
    assert state["counters"]["account_enabled_changes"] == 0
    assert world.mutating_calls() == []


def test_graph_reset_password_synced_user_raises_rejected(world: GraphWorld) -> None:
    with pytest.raises(RemoteRejectedError, match="on-premises mastered"):
        world.make_provider().reset_password(EVE)

    assert world.state()["counters"]["password_resets"] == 0


def test_graph_find_user_selects_account_enabled(world: GraphWorld) -> None:
    provider = world.make_provider()

    assert provider.find_user("dee@contoso.com") == DirectoryUser(
        user_id=DEE, email="dee@contoso.com", display_name="Dee Dee", active=False, locked=False
    )
    first = world.calls(f"{API}/users")[0]
    assert "accountEnabled" in str(first["query"]["$select"]).split(",")


def test_graph_find_user_filter_quotes_apostrophes(world: GraphWorld) -> None:
    assert world.make_provider().find_user("o'brien@contoso.com") is None

    search = world.calls(f"{API}/users")[-1]
    assert search["path"] == f"{API}/users"
    assert search["query"]["$filter"] == "mail eq 'o''brien@contoso.com'"


def test_graph_is_member_follows_next_links(world: GraphWorld) -> None:
    assert world.make_provider().is_member(ADA, LAST_OF_ADA) is True

    pages = world.calls(f"{API}/users/{ADA}/memberOf")
    assert len(pages) == 3  # Everyone + 4 teams + Ops, two per page
    assert pages[0]["query"] == {"$select": "id", "$top": "999"}
    assert pages[1]["query"]["$skiptoken"] == "2"


def test_graph_add_to_group_sends_directory_object_reference(world: GraphWorld) -> None:
    world.make_provider().add_to_group(ADA, VPN)

    (post,) = world.mutating_calls()
    assert post["path"] == f"{API}/groups/{VPN}/members/$ref"
    assert post["json"] == {"@odata.id": f"{world.emulator.base_url}{API}/directoryObjects/{ADA}"}


def test_graph_add_to_group_raced_by_another_admin_returns_false(world: GraphWorld) -> None:
    # Our membership read says "not a member"; by the time we add, someone else did: Graph answers 400
    # "One or more added object references already exist".
    body = {
        "error": {
            "code": "Request_BadRequest",
            "message": "One or more added object references already exist for the following modified "
            "properties: 'members'.",
        }
    }
    world.inject(status=400, times=1, path_prefix=f"{API}/groups/{VPN}/members", body=body)

    assert world.make_provider().add_to_group(ADA, VPN) is False


def test_graph_other_bad_request_on_add_is_raised(world: GraphWorld) -> None:
    body = {
        "error": {
            "code": "Request_BadRequest",
            "message": "Insufficient privileges to complete the operation.",
        }
    }
    world.inject(status=400, times=1, path_prefix=f"{API}/groups/{VPN}/members", body=body)

    with pytest.raises(RemoteRejectedError, match="Insufficient privileges"):
        world.make_provider().add_to_group(ADA, VPN)


def test_generated_temporary_passwords_are_strong_and_distinct() -> None:
    passwords = {generate_temporary_password() for _ in range(200)}

    assert len(passwords) == 200
    for password in passwords:
        assert len(password) == 20
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in "!#%+-=?" for c in password)
        assert not set(password) & set("lIO01*_~`<>&@ ")
