"""The Slack app (slack-bolt), built by a factory: no module-level App.

Flow per message (ARCHITECTURE.md §3): bolt verifies the signature and acks at once; the lazy listener
then drops replays (event id), adds 👀, resolves the employee (Slack user → e-mail → directory), runs the
orchestrator (classify → route → reply), posts the reply in the thread as Block Kit and removes 👀. Any
failure after the ack ends in a short apology with a reference id and an "Open a ticket" button, and
an error log line carrying the same reference: the employee is never left with 👀 and nothing.

A lost database connection (PostgreSQL restarting) is not a failure at first: the message is worked on
again with short backoff for up to ``BotDeps.database_retry``'s window (30 s) and then answered normally;
only an outage longer than that ends in a reply saying the helpdesk is having trouble, try again later.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.automations.approvals import Decision
from services.automations.models import AutomationState
from services.automations.notify import APPROVE_ACTION
from services.bot.blocks import (
    ACTION_BY_ID,
    ACTION_IDS,
    decode_button_value,
    encode_button_value,
    fallback_text,
    reply_blocks,
)
from services.bot.dedupe import EventDeduper
from services.bot.handoff import HANDOFF_CLAIM, HandoffDesk
from services.bot.home import HOME_MESSAGES, home_view
from services.bot.inbound import InboundMessage, NotForUs, parse_message_event
from services.bot.installations import BOT_SCOPES, build_installation_store, build_oauth_state_store
from services.bot.modals import TICKET_MODAL, ModalContext, read_ticket_form, ticket_modal
from services.bot.mrkdwn import escape
from services.bot.ratelimit import RateLimiter
from services.common.config import Settings
from services.common.db import DatabaseRetry, DatabaseUnavailableError, session_scope
from services.common.ids import new_reference_id
from services.common.logging import bind_correlation_id
from services.common.metrics import observe_slack_ack, slack_ack_kind, slack_ack_outcome
from services.conversations import repo as conversations
from services.conversations.models import Channel
from services.conversations.orchestrator import ButtonAction, Orchestrator, Reply
from services.directory import repo as directory
from services.directory.models import Employee
from services.router.routes import Route

logger = logging.getLogger(__name__)

WORKING_REACTION = "eyes"
APOLOGY = "Sorry, something went wrong on my side and I couldn't finish that. Reference: {reference}."
DATABASE_TROUBLE = (
    "Sorry, the helpdesk is having trouble right now and I couldn't answer this. "
    "Please try again in a few minutes. Reference: {reference}."
)
NO_EMAIL = (
    "I couldn't find your e-mail address in Slack, so I can't tell who you are in the company directory. "
    "Please ask IT to check your Slack profile."
)


INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
COMMAND = "/helpdesk"
COMMAND_ACK = "On it: I'll answer in our direct messages."
COMMAND_HELP = (
    "Use `/helpdesk <question>` to ask, `/helpdesk status` for your tickets and requests, or "
    "`/helpdesk ticket <what's wrong>` to open a ticket. You can also just send me a direct message."
)
RATE_LIMITED = "You're sending messages faster than I can keep up with. Please wait a minute and try again."


@dataclass
class BotDeps:
    """What the Slack app needs from the rest of Deskpilot (built once per process)."""

    orchestrator: Orchestrator
    session_factory: sessionmaker[Session]
    deduper: EventDeduper
    public_url: str
    rate_limiter: RateLimiter | None = None
    handoff_channel: str | None = None
    dispatch: Callable[[int], None] | None = None
    """Sends an automation run to the workers (after its "request is in" reply was posted)."""
    approvals: Callable[[int, int, bool], Decision] | None = None
    """Records a manager's decision: (run id, approver employee id, approve)."""
    database_retry: DatabaseRetry = field(default_factory=DatabaseRetry)
    """How long a message waits for a lost database connection to come back before the employee is told."""


class MeteredApp(App):
    """bolt's App, counting every ack (kind, outcome) and its latency, over HTTP and Socket Mode alike.

    ``dispatch`` returns once the ack listener has run (``process_before_response=False``: lazy
    listeners continue in the pool), so its duration is what Slack waits for.
    """

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Dispatch as bolt does and record the ack."""
        started = time.perf_counter()
        kind = slack_ack_kind(req.body)
        try:
            response = super().dispatch(req)
        except Exception:
            observe_slack_ack(kind, "error", time.perf_counter() - started)
            raise
        observe_slack_ack(kind, slack_ack_outcome(response.status), time.perf_counter() - started)
        return response


def build_bolt_app(
    settings: Settings,
    deps: BotDeps,
    *,
    client: WebClient | None = None,
    bot_user_id: str | None = None,
    team_id: str | None = None,
    engine: Engine | None = None,
) -> App:
    """A bolt App answering through ``deps.orchestrator``.

    One workspace when ``DESKPILOT_SLACK__BOT_TOKEN`` is set; many when the app is distributed by OAuth
    (``CLIENT_ID``/``CLIENT_SECRET``): installs go through ``/slack/install`` and every request is
    authorised with its workspace's bot token from the installation store on ``engine``.
    """
    slack = settings.slack
    if slack.signing_secret is None or not slack.enabled:
        raise ValueError(
            "DESKPILOT_SLACK__SIGNING_SECRET and either DESKPILOT_SLACK__BOT_TOKEN or "
            "DESKPILOT_SLACK__CLIENT_ID/CLIENT_SECRET are required"
        )
    token = slack.bot_token.get_secret_value() if slack.bot_token is not None else None
    web = client or WebClient(token=token, base_url=slack.api_base_url)
    options: dict[str, Any] = {}
    if slack.oauth_enabled:
        if engine is None:
            raise ValueError("multi-workspace Slack needs the database engine for its installation store")
        options.update(_oauth_options(settings, engine, web))
    else:
        assert token is not None
        options["authorize"] = _single_workspace_authorize(web, token, bot_user_id, team_id)
    app = MeteredApp(
        signing_secret=slack.signing_secret.get_secret_value(),
        client=web,
        process_before_response=False,
        name="deskpilot",
        # Answers are CPU-bound (embedding, ranking): more threads than cores only slow the acks down.
        listener_executor=ThreadPoolExecutor(
            max_workers=slack.listener_threads, thread_name_prefix="slack-listener"
        ),
        **options,
    )
    if slack.oauth_enabled:
        app.enable_token_revocation_listeners()  # app_uninstalled / tokens_revoked delete the install

    def lazy(method: Callable[[_Handler, dict[str, Any]], None]) -> Callable[..., None]:
        """A lazy listener running ``method`` with the requesting workspace's client (bolt injects it)."""

        def listener(body: dict[str, Any], client: WebClient) -> None:
            method(_Handler(deps, client), body)

        return listener

    app.event("message")(ack=_ack, lazy=[lazy(_Handler.on_message)])
    app.event("app_mention")(ack=_ack, lazy=[lazy(_Handler.on_message)])
    app.action(re.compile(r"^deskpilot_(?!home_|handoff_|approval_)"))(
        ack=_ack, lazy=[lazy(_Handler.on_action)]
    )
    app.action(re.compile(r"^deskpilot_approval_"))(ack=_ack, lazy=[lazy(_Handler.on_approval)])
    app.action(HANDOFF_CLAIM)(ack=_ack, lazy=[lazy(_Handler.on_claim)])
    app.action(re.compile(r"^deskpilot_home_"))(ack=_ack, lazy=[lazy(_Handler.on_home_action)])
    app.event("app_home_opened")(ack=_ack, lazy=[lazy(_Handler.on_home_opened)])
    app.view(TICKET_MODAL)(ack=_ack_ticket_form, lazy=[lazy(_Handler.on_ticket_form)])
    app.command(COMMAND)(ack=_ack_command, lazy=[lazy(_Handler.on_command)])
    return app


def _single_workspace_authorize(
    web: WebClient, token: str, bot_user_id: str | None, default_team: str | None
) -> Callable[..., AuthorizeResult]:
    identity: dict[str, str] = {}

    # bolt passes these by name: the parameters must be called enterprise_id and team_id.
    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        if not identity:  # one auth.test per process, on the first event
            given = {"user_id": bot_user_id, "team_id": default_team}
            info: Any = given if bot_user_id else web.auth_test().data
            identity.update({"user_id": str(info["user_id"]), "team_id": str(info["team_id"])})
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or identity["team_id"],
            bot_token=token,
            bot_user_id=identity["user_id"],
        )

    return authorize


def _oauth_options(settings: Settings, engine: Engine, web: WebClient) -> dict[str, Any]:
    """bolt options for an app installed by OAuth into many workspaces."""
    slack = settings.slack
    assert slack.client_id is not None and slack.client_secret is not None
    client_secret = slack.client_secret.get_secret_value()
    installation_store = build_installation_store(slack.client_id, engine)
    return {
        "oauth_settings": OAuthSettings(
            client_id=slack.client_id,
            client_secret=client_secret,
            scopes=list(BOT_SCOPES),
            installation_store=installation_store,
            installation_store_bot_only=True,
            state_store=build_oauth_state_store(engine),
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            redirect_uri=f"{settings.web.public_url.rstrip('/')}{REDIRECT_PATH}",
        ),
        # The store's authorize, with auth.test results cached per token (not one call per event).
        "authorize": InstallationStoreAuthorize(
            installation_store=installation_store,
            client_id=slack.client_id,
            client_secret=client_secret,
            logger=logger,
            bot_only=True,
            cache_enabled=True,
            client=web,
        ),
    }


def _ack(ack: Ack) -> None:
    ack()


def _ack_ticket_form(ack: Ack, body: dict[str, Any]) -> None:
    """Validate the ticket form within Slack's 3 s: errors are shown next to the fields in the modal."""
    _, errors = read_ticket_form(body.get("view") or {})
    if errors:
        ack(response_action="errors", errors=errors)
    else:
        ack()


def _ack_command(ack: Ack, body: dict[str, Any]) -> None:
    text = str(body.get("text") or "").strip()
    ack(text=COMMAND_HELP if text in ("", "help") else COMMAND_ACK)


def command_message(text: str) -> str | None:
    """What a ``/helpdesk`` command asks the orchestrator (None for help, answered in the ack)."""
    text = text.strip()
    if text in ("", "help"):
        return None
    word, _, rest = text.partition(" ")
    if word.lower() == "status" and not rest.strip():
        return "what is the status of my tickets and requests"
    if word.lower() == "ticket":
        return f"please open a ticket: {rest.strip()}" if rest.strip() else "I want to open a ticket"
    return text


@dataclass(frozen=True)
class _Thread:
    """Where a reply goes and who it is for."""

    team_id: str
    user_id: str
    channel_id: str
    thread_ts: str


class _Handler:
    """The lazy listeners (they run after the ack, in bolt's thread pool)."""

    def __init__(self, deps: BotDeps, client: WebClient) -> None:
        self.deps = deps
        self.client = client
        self.desk = (
            HandoffDesk(client=client, session_factory=deps.session_factory, it_channel=deps.handoff_channel)
            if deps.handoff_channel
            else None
        )

    def on_message(self, body: dict[str, Any]) -> None:
        try:
            inbound = parse_message_event(body)
        except NotForUs:
            return
        except ValueError as exc:
            logger.warning("malformed Slack event ignored", extra={"reason": str(exc)})
            return
        if not self.deps.deduper.first_time(inbound.idempotency_key):
            logger.info("redelivered event ignored", extra={"event_id": inbound.event_id})
            return
        limiter = self.deps.rate_limiter
        if limiter is not None and not limiter.allow(f"{inbound.team_id}:{inbound.user_id}"):
            logger.info("rate limited", extra={"user": inbound.user_id})
            self.client.chat_postEphemeral(
                channel=inbound.channel_id, user=inbound.user_id, text=RATE_LIMITED
            )
            return
        with bind_correlation_id(f"{inbound.team_id}:{inbound.event_id}"):
            try:
                wanted = self.deps.database_retry.run(
                    lambda _attempt: self._wants_answer(inbound), what=f"slack message {inbound.event_id}"
                )
            except DatabaseUnavailableError:
                if inbound.is_direct_message or inbound.is_mention:
                    self._database_trouble(inbound.channel_id, inbound.thread_ts)
                else:  # maybe not a thread of ours: no reply in other people's threads
                    logger.exception("database unreachable: thread reply not looked at")
                return
            if wanted:
                self._answer(inbound)

    def _wants_answer(self, inbound: InboundMessage) -> bool:
        """False for an agent's message relayed from an IT thread and for threads Deskpilot is not part of."""
        if self.desk is not None and self.desk.relay_from_agent(inbound):
            return False
        return inbound.is_direct_message or inbound.is_mention or self._known_thread(inbound)

    def _answer(self, inbound: InboundMessage) -> None:
        self._react(inbound.channel_id, inbound.ts, add=True)
        try:

            def work(employee_id: int, conversation_id: int) -> Reply | None:
                if self.desk is not None and self.desk.relay_from_employee(
                    conversation_id=conversation_id, inbound=inbound
                ):
                    return None  # handed off: the agent answers
                return self.deps.orchestrator.handle_message(
                    employee_id=employee_id,
                    channel=Channel.SLACK,
                    text=inbound.text,
                    conversation_id=conversation_id,
                    idempotency_key=inbound.idempotency_key,
                )

            self._reply_in_thread(
                _Thread(inbound.team_id, inbound.user_id, inbound.channel_id, inbound.thread_ts), work
            )
        finally:
            self._react(inbound.channel_id, inbound.ts, add=False)

    def on_command(self, body: dict[str, Any]) -> None:
        """``/helpdesk ...``: answered in a new thread of the employee's DM with Deskpilot."""
        try:
            message = command_message(str(body.get("text") or ""))
            team_id, user_id = str(body["team_id"]), str(body["user_id"])
        except KeyError as exc:
            logger.warning("malformed slash command ignored", extra={"reason": str(exc)})
            return
        if message is not None:
            with bind_correlation_id(f"{team_id}:command:{body.get('trigger_id', '')}"):
                self._ask_in_dm(team_id, user_id, message, label=f"{COMMAND} {message}")

    def on_home_action(self, body: dict[str, Any]) -> None:
        """A quick action of the App Home: continued in the employee's DM."""
        try:
            action_id = str(body["actions"][0]["action_id"])
            team_id, user_id = str(body["team"]["id"]), str(body["user"]["id"])
            message = HOME_MESSAGES[action_id]
        except (KeyError, IndexError, TypeError) as exc:
            logger.warning("malformed App Home action ignored", extra={"reason": str(exc)})
            return
        with bind_correlation_id(f"{team_id}:home:{body.get('trigger_id', '')}"):
            self._ask_in_dm(team_id, user_id, message, label=message)

    def on_home_opened(self, body: dict[str, Any]) -> None:
        """Publish the employee's App Home (tickets, requests, recent answers, quick actions)."""
        event = body.get("event") or {}
        if event.get("tab") not in (None, "home") or not isinstance(event.get("user"), str):
            return
        team_id, user_id = str(body.get("team_id", "")), str(event["user"])
        try:
            employee_id = self._employee_id(team_id, user_id)
            if employee_id is None:
                return
            with session_scope(self.deps.session_factory) as db_session:
                employee = db_session.get(Employee, employee_id)
                assert employee is not None
                view = home_view(db_session, employee_id=employee_id, display_name=employee.display_name)
            self.client.views_publish(user_id=user_id, view=view)
        except Exception:  # noqa: BLE001 - the tab keeps its previous content; the cause is logged
            logger.exception("could not publish the App Home", extra={"user": user_id})

    def _open_ticket_form(self, thread: _Thread, conversation_id: int, trigger_id: str) -> None:
        """Open the ticket modal prefilled with the conversation's last question (trigger ids live 3 s)."""
        try:
            employee_id = self._employee_id(thread.team_id, thread.user_id)
            if employee_id is None:
                self._post(thread.channel_id, thread.thread_ts, NO_EMAIL, None)
                return
            if not conversation_id:
                conversation_id = self._thread_conversation_id(employee_id, thread)
            question = self.deps.orchestrator.last_question(
                employee_id=employee_id, conversation_id=conversation_id
            )
            context = ModalContext(conversation_id, thread.channel_id, thread.thread_ts)
            self.client.views_open(trigger_id=trigger_id, view=ticket_modal(context, question=question))
        except Exception:  # noqa: BLE001 - never silent
            self._apologise(thread.channel_id, thread.thread_ts)

    def on_ticket_form(self, body: dict[str, Any]) -> None:
        """A valid ticket form (the ack already refused invalid ones): record it, confirm in the thread."""
        try:
            view = body["view"]
            form, errors = read_ticket_form(view)
            modal = ModalContext.decode(str(view["private_metadata"]))
            team_id, user_id = str(body["team"]["id"]), str(body["user"]["id"])
            form_key = str(view["id"])
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("malformed view submission ignored", extra={"reason": str(exc)})
            return
        if form is None:
            return
        with bind_correlation_id(f"{team_id}:view:{form_key}"):
            self._reply_in_thread(
                _Thread(team_id, user_id, modal.channel_id, modal.thread_ts),
                lambda employee_id, _conversation_id: self.deps.orchestrator.submit_ticket_form(
                    employee_id=employee_id,
                    conversation_id=modal.conversation_id,
                    title=form.title,
                    description=form.description,
                    urgency=form.urgency,
                    form_key=form_key,
                ),
            )

    def _ask_in_dm(self, team_id: str, user_id: str, message: str, *, label: str) -> None:
        """Start a DM thread quoting ``label`` and answer ``message`` in it."""
        channel = str(self.client.conversations_open(users=user_id)["channel"]["id"])
        root = self.client.chat_postMessage(channel=channel, text=escape(label))
        self._reply_in_thread(
            _Thread(team_id, user_id, channel, str(root["ts"])),
            lambda employee_id, conversation_id: self.deps.orchestrator.handle_message(
                employee_id=employee_id, channel=Channel.SLACK, text=message, conversation_id=conversation_id
            ),
        )

    def on_action(self, body: dict[str, Any]) -> None:
        try:
            action = body["actions"][0]
            kind = _button_action(str(action["action_id"]))
            button_conversation, value = decode_button_value(str(action["value"]))
            message = body.get("message") or {}
            thread = _Thread(
                str(body["team"]["id"]),
                str(body["user"]["id"]),
                str(body["channel"]["id"]),
                str(message.get("thread_ts") or message.get("ts")),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            logger.warning("malformed Slack action ignored", extra={"reason": str(exc)})
            return
        if kind is ButtonAction.OPEN_TICKET and body.get("trigger_id"):
            with bind_correlation_id(f"{thread.team_id}:ticket-form:{body.get('trigger_id', '')}"):
                self._open_ticket_form(thread, button_conversation, str(body["trigger_id"]))
            return
        with bind_correlation_id(f"{thread.team_id}:action:{body.get('trigger_id', '')}"):
            self._reply_in_thread(
                thread,
                # An apology's button carries no conversation (0): the thread's conversation is used.
                lambda employee_id, conversation_id: self.deps.orchestrator.handle_action(
                    employee_id=employee_id,
                    conversation_id=button_conversation or conversation_id,
                    action=kind,
                    value=value,
                ),
            )

    def _known_thread(self, inbound: InboundMessage) -> bool:
        with session_scope(self.deps.session_factory) as db_session:
            return conversations.slack_thread_is_known(
                db_session=db_session,
                team_id=inbound.team_id,
                channel_id=inbound.channel_id,
                thread_ts=inbound.thread_ts,
            )

    def on_claim(self, body: dict[str, Any]) -> None:
        """An IT agent pressed "Claim" on a handoff post."""
        try:
            conversation_id = int(body["actions"][0]["value"])
            agent = str(body["user"]["id"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            logger.warning("malformed claim ignored", extra={"reason": str(exc)})
            return
        if self.desk is not None:
            with bind_correlation_id(f"claim:{conversation_id}"):
                try:
                    self.desk.claim(conversation_id=conversation_id, agent_user_id=agent)
                except Exception:  # noqa: BLE001 - the agent sees the button again and can retry
                    logger.exception("claim failed", extra={"conversation_id": conversation_id})

    def _reply_in_thread(self, thread: _Thread, work: Callable[[int, int], Reply | None]) -> None:
        """Resolve the employee and the thread's conversation, run ``work``, post its reply in the thread.

        While the database connection is lost, all but the posting is tried again (``deps.database_retry``),
        then the employee is told the helpdesk is having trouble; any other failure becomes an apology
        with a reference id in the same thread (never silent).
        """
        try:
            prepared = self.deps.database_retry.run(
                lambda attempt: self._prepare_reply(thread, work, retried=attempt > 0),
                what=f"slack reply {thread.channel_id}:{thread.thread_ts}",
            )
        except DatabaseUnavailableError:
            self._database_trouble(thread.channel_id, thread.thread_ts)
            return
        except Exception:  # noqa: BLE001 - never silent: apologise with a reference, log the cause
            self._apologise(thread.channel_id, thread.thread_ts)
            return
        employee_id, conversation_id, reply = prepared
        try:
            if employee_id is None:
                self._post(thread.channel_id, thread.thread_ts, NO_EMAIL, None)
                return
            if reply is None:
                return
            self._post(thread.channel_id, thread.thread_ts, fallback_text(reply), reply)
            if reply.automation_run_id is not None:
                self._dispatch(reply.automation_run_id)
            if reply.route is Route.HANDOFF and self.desk is not None:
                self.desk.announce(conversation_id=conversation_id, employee_id=employee_id)
        except Exception:  # noqa: BLE001 - never silent: apologise with a reference, log the cause
            self._apologise(thread.channel_id, thread.thread_ts)

    def _prepare_reply(
        self, thread: _Thread, work: Callable[[int, int], Reply | None], *, retried: bool
    ) -> tuple[int | None, int, Reply | None]:
        """The employee (None: no e-mail in Slack), the thread's conversation and the reply to post (None:
        nothing to post). A replayed reply is posted only on a retry: the failed attempt may have recorded
        it (its commit's outcome unknown) without posting it; otherwise it is Slack redelivering."""
        employee_id = self._employee_id(thread.team_id, thread.user_id)
        if employee_id is None:
            return None, 0, None
        conversation_id = self._thread_conversation_id(employee_id, thread)
        reply = work(employee_id, conversation_id)
        if reply is not None and reply.replayed and not retried:
            reply = None
        return employee_id, conversation_id, reply

    def _thread_conversation_id(self, employee_id: int, thread: _Thread) -> int:
        """The conversation of ``thread`` (created on its first message)."""
        with session_scope(self.deps.session_factory) as db_session:
            return conversations.get_or_create_slack_conversation(
                db_session=db_session,
                employee_id=employee_id,
                team_id=thread.team_id,
                channel_id=thread.channel_id,
                thread_ts=thread.thread_ts,
            ).id

    def on_approval(self, body: dict[str, Any]) -> None:
        """A manager pressed Approve or Deny on an access request: record once, update their message."""
        try:
            action = body["actions"][0]
            run_id = int(action["value"])
            approve = str(action["action_id"]) == APPROVE_ACTION
            team_id, user_id = str(body["team"]["id"]), str(body["user"]["id"])
            channel_id = str(body["channel"]["id"])
            message_ts = str((body.get("message") or {})["ts"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            logger.warning("malformed approval ignored", extra={"reason": str(exc)})
            return
        if self.deps.approvals is None:
            return
        with bind_correlation_id(f"{team_id}:approval:{run_id}"):
            try:
                approver_id = self._employee_id(team_id, user_id)
                if approver_id is None:
                    self.client.chat_postEphemeral(channel=channel_id, user=user_id, text=NO_EMAIL)
                    return
                decision = self.deps.approvals(run_id, approver_id, approve)
                if not decision.changed:
                    self.client.chat_postEphemeral(channel=channel_id, user=user_id, text=decision.text)
                    return
                self.client.chat_update(
                    channel=channel_id, ts=message_ts, text=escape(decision.text), blocks=[]
                )
                if decision.state is AutomationState.APPROVED:
                    self._dispatch(run_id)
            except Exception:  # noqa: BLE001 - never silent
                self._apologise(channel_id, None)

    def _dispatch(self, run_id: int) -> None:
        """Send a run to the workers; if the broker is down the stalled-run sweep sends it later."""
        if self.deps.dispatch is None:
            return
        try:
            self.deps.dispatch(run_id)
        except Exception:  # noqa: BLE001 - the run row is safe; the sweep re-sends PENDING runs
            logger.exception("automation not dispatched; the sweep will retry", extra={"run_id": run_id})

    # ---- helpers ---------------------------------------------------------------------------------------

    def _employee_id(self, team_id: str, user_id: str) -> int | None:
        """The directory employee for a Slack user; looked up in Slack (users.info) the first time."""
        with session_scope(self.deps.session_factory) as db_session:
            known = directory.get_employee_by_slack_id(
                db_session=db_session, team_id=team_id, user_id=user_id
            )
            if known is not None:
                return known.id
        data: Any = self.client.users_info(user=user_id).data
        user = data.get("user") or {}
        profile = user.get("profile") or {}
        email = profile.get("email")
        if not isinstance(email, str) or "@" not in email:
            return None
        name = profile.get("real_name") or user.get("real_name") or user.get("name") or email
        with session_scope(self.deps.session_factory) as db_session:
            employee = directory.link_slack_user(
                db_session=db_session,
                team_id=team_id,
                user_id=user_id,
                email=email,
                display_name=str(name),
                timezone=user.get("tz"),
            )
            return employee.id

    def _post(self, channel: str, thread_ts: str, text: str, reply: Reply | None) -> None:
        blocks = reply_blocks(reply, base_url=self.deps.public_url) if reply is not None else None
        self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)

    def _react(self, channel: str, ts: str, *, add: bool) -> None:
        call: Callable[..., Any] = self.client.reactions_add if add else self.client.reactions_remove
        try:
            call(channel=channel, timestamp=ts, name=WORKING_REACTION)
        except SlackApiError as exc:  # a missing reaction must not cost the employee their answer
            logger.info("reaction not changed", extra={"error": exc.response.get("error")})

    def _database_trouble(self, channel: str, thread_ts: str) -> None:
        """Tell the employee the helpdesk cannot answer now (the database stayed unreachable)."""
        reference = new_reference_id()
        logger.exception(
            "database unreachable: told the employee to try again", extra={"reference": reference}
        )
        text = DATABASE_TROUBLE.format(reference=reference)
        try:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except SlackApiError:
            logger.exception("could not tell the employee either", extra={"reference": reference})

    def _apologise(self, channel: str, thread_ts: str | None) -> None:
        reference = new_reference_id()
        logger.exception("failed to answer a Slack message", extra={"reference": reference})
        blocks: list[dict[str, Any]] = [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": escape(APOLOGY.format(reference=reference))},
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_IDS[ButtonAction.OPEN_TICKET],
                        "text": {"type": "plain_text", "text": "Open a ticket"},
                        "value": encode_button_value(0, ""),
                    }
                ],
            },
        ]
        try:
            self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=APOLOGY.format(reference=reference), blocks=blocks
            )
        except SlackApiError:
            logger.exception("could not post the apology either", extra={"reference": reference})


def _button_action(action_id: str) -> ButtonAction:
    for prefix, action in sorted(ACTION_BY_ID.items(), key=lambda item: -len(item[0])):
        if action_id == prefix or action_id.startswith(prefix + "_"):
            return action
    raise ValueError(f"unknown action id {action_id}")
