"""The ``IdentityProvider`` contract, run against every identity adapter and its emulator over real HTTP.

A test module subclasses :class:`IdentityWorld` for its vendor (how to build the adapter, how to make the
emulator rate-limit, which seeded users and groups to use), provides a module-scoped ``emulator`` fixture,
gets its ``world`` fixture from ``emulator_fixture(<its IdentityWorld>, "world")`` and subclasses
:class:`IdentityProviderContract` (named ``Test...``); every test below then runs for that adapter. The
tests assert through the adapter's answers *and* the emulator's ``/_state`` and ``/_calls`` (one effect,
no call where none is needed).

Both emulators' ``GET /_state`` share ``{"users": {...}, "groups": {id: {"members": [...]}},
"counters": {"password_resets", "membership_additions", ...}}``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Literal, Protocol, TypeVar

import pytest

from connectors.errors import (
    AuthError,
    ConflictError,
    RateLimitedError,
    RemoteNotFoundError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.http import ClientOptions
from connectors.interfaces import IdentityProvider
from tests.emulators.ticket_checks import EmulatorControl, client_options

MUTATING = ("POST", "PUT", "PATCH", "DELETE")


class ClosableIdentityProvider(IdentityProvider, Protocol):
    """An identity adapter that owns HTTP connection pools."""

    def close(self) -> None:
        """Release the pools."""
        ...


P = TypeVar("P", bound=ClosableIdentityProvider)


class IdentityWorld(EmulatorControl, ABC, Generic[P]):
    """One adapter's emulator and the seeded users and groups the contract refers to.

    ``reset`` also puts the directory back to its seeds.
    """

    system: str
    api_prefix: str  # path prefix of the vendor API (faults are injected there)
    user_email: str  # login / UPN of ``user_id``
    user_id: str
    user_display_name: str
    alias_email: str  # primary e-mail, not the login / UPN, of ``alias_user_id``
    alias_user_id: str
    missing_email: str
    shared_email: str  # the primary e-mail of two live accounts
    missing_user_id: str  # well-formed id of nobody
    locked_user_id: str  # locked out (where the provider can tell)
    group_id: str  # ``user_id`` is not a member
    member_group_id: str  # ``user_id`` is a direct member
    unknown_group_id: str  # well-formed id of no group
    reset_kind: Literal["link", "temporary_password"]
    unlock_supported: bool

    @abstractmethod
    def build(self, *, valid_credentials: bool, timeout_s: float, options: ClientOptions) -> P:
        """The adapter pointed at the emulator."""

    @abstractmethod
    def inject_rate_limit(self, times: int) -> None:
        """Make the next ``times`` API calls answer 429, "wait 1 s", in the vendor's way."""

    def make_provider(
        self,
        *,
        valid_credentials: bool = True,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        sleep: Callable[[float], None] | None = None,
    ) -> P:
        """A new adapter (tiny backoff; sleeps go to ``sleep``, not slept), closed when the test ends."""
        options = client_options(max_attempts, sleep or (lambda _: None))
        return self.opened(
            self.build(valid_credentials=valid_credentials, timeout_s=timeout_s, options=options)
        )

    def reset(self) -> None:
        """Back to the seeded directory, with no recorded calls and no queued faults."""
        super().reset()
        self.control("POST", "/_reset")

    def mutating_calls(self) -> list[dict[str, Any]]:
        """Requests to the vendor API that could change something."""
        return [call for call in self.calls(self.api_prefix) if call["method"] in MUTATING]


World = IdentityWorld[Any]


class IdentityProviderContract:
    """Behaviour every ``IdentityProvider`` adapter must show against its emulator."""

    def test_satisfies_protocol(self, world: World) -> None:
        provider = world.make_provider()

        assert isinstance(provider, IdentityProvider)
        assert provider.system == world.system

    def test_find_user_by_login(self, world: World) -> None:
        user = world.make_provider().find_user(world.user_email)

        assert user is not None
        assert user.user_id == world.user_id
        assert user.email == world.user_email
        assert user.display_name == world.user_display_name
        assert user.active is True
        assert user.locked is False

    def test_find_user_by_primary_email_falls_back_to_search(self, world: World) -> None:
        user = world.make_provider().find_user(world.alias_email)

        assert user is not None
        assert user.user_id == world.alias_user_id
        assert user.email == world.alias_email
        assert len(world.calls(world.api_prefix)) == 2  # direct lookup (404), then the search

    def test_find_missing_user_returns_none(self, world: World) -> None:
        assert world.make_provider().find_user(world.missing_email) is None
        assert len(world.calls(world.api_prefix)) == 2

    def test_find_user_shared_email_raises_conflict(self, world: World) -> None:
        # Guessing could reset the wrong person's password.
        with pytest.raises(ConflictError, match="2 [a-z]+ share this e-mail") as raised:
            world.make_provider().find_user(world.shared_email)

        assert raised.value.system == world.system
        assert world.mutating_calls() == []

    def test_find_user_not_an_email_returns_none_without_call(self, world: World) -> None:
        provider = world.make_provider()

        assert provider.find_user(world.user_id) is None  # an id is not an e-mail, even if it would resolve
        assert provider.find_user("  ") is None
        assert world.calls(world.api_prefix) == []

    def test_reset_password_secret_stays_out_of_logs_and_repr(
        self, world: World, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)

        reset = world.make_provider().reset_password(world.user_id)

        assert reset.user_id == world.user_id
        # A one-time link is as much a bearer secret as a temporary password: each stays out of the repr,
        # the str and the logs, whichever the provider hands out.
        secret = reset.reset_url if world.reset_kind == "link" else reset.temporary_password
        other = reset.temporary_password if world.reset_kind == "link" else reset.reset_url
        assert secret
        assert other is None
        assert secret not in repr(reset)
        assert secret not in str(reset)
        logged = "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)
        assert caplog.records  # the reset is logged ...
        assert secret not in logged  # ... without its secret
        assert world.state()["counters"]["password_resets"] == 1
        assert len(world.mutating_calls()) == 1

    def test_reset_password_unknown_user_raises_not_found(self, world: World) -> None:
        with pytest.raises(RemoteNotFoundError) as raised:
            world.make_provider().reset_password(world.missing_user_id)

        assert raised.value.system == world.system
        assert world.state()["counters"]["password_resets"] == 0

    def test_unlock_twice_has_one_effect(self, world: World) -> None:
        provider = world.make_provider()
        before = world.state()["users"]

        if world.unlock_supported:
            first = provider.unlock(world.locked_user_id)
            second = provider.unlock(world.locked_user_id)

            assert first.locked is False and first.active is True
            assert second == first
            assert world.state()["counters"]["unlocks"] == 1
            assert len(world.mutating_calls()) == 1
        else:
            for _ in range(2):
                with pytest.raises(RemoteRejectedError, match="unlock is not supported") as raised:
                    provider.unlock(world.locked_user_id)
                assert "password reset" in str(raised.value)
            assert world.mutating_calls() == []
            assert world.state()["users"] == before

    def test_unlock_not_locked_user_is_noop_or_explained(self, world: World) -> None:
        provider = world.make_provider()

        if world.unlock_supported:
            user = provider.unlock(world.user_id)
            assert user.user_id == world.user_id and user.locked is False
        else:
            with pytest.raises(RemoteRejectedError):
                provider.unlock(world.user_id)
        assert world.mutating_calls() == []

    def test_unlock_unknown_user_raises_not_found(self, world: World) -> None:
        with pytest.raises(RemoteNotFoundError):
            world.make_provider().unlock(world.missing_user_id)

    def test_is_member_reads_direct_membership(self, world: World) -> None:
        provider = world.make_provider()

        assert provider.is_member(world.user_id, world.member_group_id) is True
        assert provider.is_member(world.user_id, world.group_id) is False
        assert world.mutating_calls() == []

    def test_is_member_unknown_user_raises_not_found(self, world: World) -> None:
        with pytest.raises(RemoteNotFoundError):
            world.make_provider().is_member(world.missing_user_id, world.group_id)

    def test_add_to_group_twice_adds_once(self, world: World) -> None:
        provider = world.make_provider()

        assert provider.add_to_group(world.user_id, world.group_id) is True
        assert provider.add_to_group(world.user_id, world.group_id) is False

        state = world.state()
        assert state["groups"][world.group_id]["members"].count(world.user_id) == 1
        assert state["counters"]["membership_additions"] == 1
        assert len(world.mutating_calls()) == 1
        assert provider.is_member(world.user_id, world.group_id) is True

    def test_add_to_group_existing_member_returns_false_without_call(self, world: World) -> None:
        assert world.make_provider().add_to_group(world.user_id, world.member_group_id) is False
        assert world.mutating_calls() == []
        assert world.state()["counters"]["membership_additions"] == 0

    def test_add_to_unknown_group_raises_not_found(self, world: World) -> None:
        with pytest.raises(RemoteNotFoundError):
            world.make_provider().add_to_group(world.user_id, world.unknown_group_id)
        assert world.state()["counters"]["membership_additions"] == 0

    def test_malformed_ids_rejected_without_call(self, world: World) -> None:
        provider = world.make_provider()
        operations: list[Callable[[], object]] = [
            lambda: provider.reset_password("../groups"),
            lambda: provider.unlock("x/y"),
            lambda: provider.is_member(world.user_id, "?q=1"),
            lambda: provider.add_to_group("", world.group_id),
        ]
        for operation in operations:
            with pytest.raises(RemoteRejectedError, match="not an"):
                operation()
        assert world.calls(world.api_prefix) == []

    def test_wrong_credentials_raise_auth_error_without_retry(self, world: World) -> None:
        provider = world.make_provider(valid_credentials=False)

        with pytest.raises(AuthError) as raised:
            provider.find_user(world.user_email)

        assert raised.value.system == world.system
        assert len(world.calls(world.api_prefix)) <= 1

    def test_rate_limited_twice_waits_then_succeeds(self, world: World) -> None:
        world.inject_rate_limit(2)
        delays: list[float] = []

        user = world.make_provider(sleep=delays.append).find_user(world.user_email)

        assert user is not None and user.user_id == world.user_id
        assert len(world.calls(world.api_prefix)) == 3
        # Whole seconds from the vendor's rate-limit header (about 1 s), not the fractional test backoff.
        assert len(delays) == 2
        assert all(0.0 <= delay <= 3.0 and float(delay).is_integer() for delay in delays)

    def test_rate_limited_beyond_attempts_raises_rate_limited(self, world: World) -> None:
        world.inject_rate_limit(5)
        delays: list[float] = []

        with pytest.raises(RateLimitedError) as raised:
            world.make_provider(sleep=delays.append, max_attempts=2).find_user(world.user_email)

        assert raised.value.retry_after_s is not None
        assert len(delays) == 1

    def test_persistent_5xx_raises_unavailable(self, world: World) -> None:
        world.inject(status=503, times=10, path_prefix=world.api_prefix)
        delays: list[float] = []

        with pytest.raises(RemoteUnavailableError):
            world.make_provider(sleep=delays.append, max_attempts=3).find_user(world.user_email)

        assert len(world.calls(world.api_prefix)) == 3
        assert len(delays) == 2

    def test_slow_response_beyond_timeout_raises_unavailable(self, world: World) -> None:
        world.inject(delay_s=0.6, times=2, path_prefix=world.api_prefix)
        provider = world.make_provider(timeout_s=0.2, max_attempts=2, sleep=lambda _: None)

        with pytest.raises(RemoteUnavailableError, match="timeout"):
            provider.find_user(world.user_email)
