"""OktaIdentityProvider against the Okta Users/Groups API emulator, over real HTTP on localhost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from connectors.errors import AuthError, RemoteRejectedError, RemoteUnavailableError
from connectors.http import ClientOptions, JsonReply
from connectors.models import DirectoryUser
from connectors.okta import OktaIdentityProvider
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.identity_checks import IdentityProviderContract, IdentityWorld
from tests.emulators.okta import OktaGroupSeed, OktaUserSeed, build_app
from tests.emulators.ticket_checks import emulator_fixture

API_TOKEN = "00Okta-test-token-0123456789abcdefghijkl"
API = "/api/v1"
ADA = "00u1ada0000000000001"  # login ada@example.com
BOB = "00u1bob0000000000002"  # login bob.k@example.com, primary e-mail bob@example.com
CYD = "00u1cyd0000000000003"  # locked out
DEE = "00u1dee0000000000004"  # suspended
SHARED_A, SHARED_B = "00u1sha0000000000005", "00u1shb0000000000006"  # same primary e-mail
OLD_FAY, NEW_FAY = "00u1fay0000000000007", "00u1fay0000000000008"  # rehire: old account deprovisioned
NOBODY = "00u1zzz0000000000099"
VPN = "00g1vpn0000000000001"
EVERYONE = "00g1all0000000000002"
FILLERS = tuple(f"00g1fil000000000000{n}" for n in range(4))
LAST_OF_ADA = "00g1ops0000000000009"  # Ada's last group: found on the third page of two
APP_GROUP = "00g1app0000000000010"
UNKNOWN_GROUP = "00g1unk0000000000098"

USERS = [
    OktaUserSeed(ADA, "ada@example.com", "ada@example.com", "Ada", "Lovelace"),
    OktaUserSeed(BOB, "bob.k@example.com", "bob@example.com", "Bob", "Kahn"),
    OktaUserSeed(CYD, "cyd@example.com", "cyd@example.com", "Cyd", "Charisse", status="LOCKED_OUT"),
    OktaUserSeed(DEE, "dee@example.com", "dee@example.com", "Dee", "Dee", status="SUSPENDED"),
    OktaUserSeed(SHARED_A, "desk.a@example.com", "frontdesk@example.com", "Front", "Desk A"),
    OktaUserSeed(SHARED_B, "desk.b@example.com", "frontdesk@example.com", "Front", "Desk B"),
    OktaUserSeed(OLD_FAY, "fay.old@example.com", "fay@example.com", "Fay", "Wray", status="DEPROVISIONED"),
    OktaUserSeed(NEW_FAY, "fay.wray@example.com", "fay@example.com", "Fay", "Wray"),
]
GROUPS = [
    OktaGroupSeed(VPN, "VPN users", members=(BOB,)),
    OktaGroupSeed(EVERYONE, "Everyone", members=tuple(u.id for u in USERS)),
    *(OktaGroupSeed(gid, f"Team {n}", members=(ADA,)) for n, gid in enumerate(FILLERS)),
    OktaGroupSeed(LAST_OF_ADA, "Ops", members=(ADA,)),
    OktaGroupSeed(APP_GROUP, "AD: Finance", type="APP_GROUP"),
]


class OktaWorld(IdentityWorld[OktaIdentityProvider]):
    system = "okta"
    api_prefix = API
    user_email = "ada@example.com"
    user_id = ADA
    user_display_name = "Ada Lovelace"
    alias_email = "bob@example.com"
    alias_user_id = BOB
    missing_email = "nobody@example.com"
    shared_email = "frontdesk@example.com"
    missing_user_id = NOBODY
    locked_user_id = CYD
    group_id = VPN
    member_group_id = EVERYONE
    unknown_group_id = UNKNOWN_GROUP
    reset_kind = "link"
    unlock_supported = True

    def build(
        self, *, valid_credentials: bool, timeout_s: float, options: ClientOptions
    ) -> OktaIdentityProvider:
        token = API_TOKEN if valid_credentials else "00wrong-token"
        return OktaIdentityProvider(self.emulator.base_url, token, timeout_s, **options)

    def inject_rate_limit(self, times: int) -> None:
        self.control("POST", "/_rate_limit", {"times": times, "reset_in_s": 1})


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    """One org for the module, reset to the seeds before each test; groups come two per page."""
    with serve_emulator(*build_app(USERS, GROUPS, api_token=API_TOKEN, max_page_size=2)) as running:
        yield running


world = emulator_fixture(OktaWorld, "world")


class TestOktaContract(IdentityProviderContract):
    """The shared IdentityProvider contract, against Okta."""


# ---- Okta specifics -----------------------------------------------------------------------------------


def test_okta_requests_carry_ssws_token_and_reset_asks_for_no_email(world: OktaWorld) -> None:
    reset = world.make_provider().reset_password(ADA)

    calls = world.calls(API)
    assert {call["headers"]["authorization"] for call in calls} == {f"SSWS {API_TOKEN}"}
    post = next(call for call in calls if call["method"] == "POST")
    assert post["path"] == f"{API}/users/{ADA}/lifecycle/reset_password"
    assert post["query"] == {"sendEmail": "false"}
    state = world.state()
    assert reset.reset_url == f"{world.emulator.base_url}/reset_password/{state['reset_links'][ADA]}"
    assert state["counters"]["reset_emails"] == 0
    assert state["users"][ADA]["status"] == "RECOVERY"


def test_okta_reset_password_suspended_user_rejected_without_call(world: OktaWorld) -> None:
    with pytest.raises(RemoteRejectedError, match="SUSPENDED"):
        world.make_provider().reset_password(DEE)

    assert world.mutating_calls() == []


def test_okta_find_user_maps_profile_and_status(world: OktaWorld) -> None:
    provider = world.make_provider()

    assert provider.find_user("cyd@example.com") == DirectoryUser(
        user_id=CYD, email="cyd@example.com", display_name="Cyd Charisse", active=True, locked=True
    )
    suspended = provider.find_user("dee@example.com")
    assert suspended is not None and suspended.active is False and suspended.locked is False


def test_okta_find_user_search_is_an_exact_email_query(world: OktaWorld) -> None:
    world.make_provider().find_user("bob@example.com")

    search = world.calls(f"{API}/users")[-1]
    assert search["path"] == f"{API}/users"
    assert search["query"]["search"] == 'profile.email eq "bob@example.com"'


def test_okta_find_user_rehire_prefers_live_account_over_deprovisioned(world: OktaWorld) -> None:
    user = world.make_provider().find_user("fay@example.com")

    assert user is not None and user.user_id == NEW_FAY and user.active is True


def test_okta_is_member_follows_link_pagination(world: OktaWorld) -> None:
    provider = world.make_provider()

    assert provider.is_member(ADA, LAST_OF_ADA) is True

    pages = world.calls(f"{API}/users/{ADA}/groups")
    assert len(pages) == 3  # Everyone + 4 teams + Ops, two per page
    assert pages[0]["query"] == {"limit": "200"}
    assert pages[1]["query"]["after"] == FILLERS[0]


def test_okta_next_link_to_another_host_is_refused(world: OktaWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = world.make_provider()
    evil_page = JsonReply([], httpx.Headers(), next_url="https://evil.example/api/v1/x")
    monkeypatch.setattr(provider._http, "request", lambda *args, **kwargs: evil_page)

    with pytest.raises(RemoteUnavailableError, match="outside the Okta org"):
        provider.is_member(ADA, VPN)


def test_okta_rate_limit_delay_comes_from_reset_header(world: OktaWorld) -> None:
    world.control("POST", "/_rate_limit", {"times": 1, "reset_in_s": 5})
    delays: list[float] = []

    world.make_provider(sleep=delays.append).find_user("ada@example.com")

    assert len(delays) == 1
    # X-Rate-Limit-Reset minus the response's Date (whole seconds; uvicorn's Date may lag by one).
    assert delays[0] in (4.0, 5.0, 6.0)


def test_okta_unlock_raced_by_another_admin_returns_unlocked_user(world: OktaWorld) -> None:
    # The unlock POST is held 0.5 s in the emulator; meanwhile another admin unlocks the account, so Okta
    # answers 403 E0000032 "Unlock is not allowed for this user" to our call.
    world.inject(delay_s=0.5, times=1, path_prefix=f"{API}/users/{CYD}/lifecycle/unlock")
    outcome: dict[str, DirectoryUser | BaseException] = {}

    def run() -> None:
        try:
            outcome["user"] = world.make_provider().unlock(CYD)
        except BaseException as exc:  # surfaced by the assertion below
            outcome["user"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 5
    while not world.mutating_calls() and time.monotonic() < deadline:
        time.sleep(0.01)
    world.control("POST", f"/_users/{CYD}/status", {"status": "ACTIVE"})
    worker.join(timeout=5)

    user = outcome["user"]
    assert isinstance(user, DirectoryUser) and user.locked is False
    assert world.state()["counters"]["unlocks"] == 0  # the other admin's unlock, not ours


def test_okta_unlock_forbidden_while_still_locked_raises_auth_error(world: OktaWorld) -> None:
    body = {
        "errorCode": "E0000006",
        "errorSummary": "You do not have permission to perform the requested action",
    }
    world.inject(status=403, times=1, path_prefix=f"{API}/users/{CYD}/lifecycle/unlock", body=body)

    with pytest.raises(AuthError):
        world.make_provider().unlock(CYD)

    assert world.state()["users"][CYD]["status"] == "LOCKED_OUT"


def test_okta_add_to_app_group_raises_rejected(world: OktaWorld) -> None:
    with pytest.raises(RemoteRejectedError):
        world.make_provider().add_to_group(ADA, APP_GROUP)

    assert world.state()["groups"][APP_GROUP]["members"] == []


def test_okta_repr_hides_token(world: OktaWorld) -> None:
    assert API_TOKEN not in repr(world.make_provider())
