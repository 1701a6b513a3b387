"""Slack Web API emulator: the methods Deskpilot calls, held to Slack's own OpenAPI spec.

``POST`` (or ``GET``) ``/api/<method>`` takes its arguments as Slack does: query string, a
form-urlencoded body or a JSON body. The token comes from ``Authorization: Bearer``, or from a ``token``
form / query argument; a ``token`` inside a JSON body is ignored, as Slack requires the header with JSON.
Answers are HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``.

The required arguments of every method are read at runtime from
``../shared/datasets/slack/official-specs/slack_web_openapi_v2.json`` (an absent one answers
``invalid_arguments``), so the emulator cannot drift from the spec. Present but empty or unknown values
get the method's documented resolution error (``channel_not_found``, ``message_not_found`` ...).

State lives in memory: messages per channel with monotonic ``ts``, threads, reactions, views (modals and
App Home per user) and DM ids from ``conversations.open`` (stable per user). ``GET /_state`` shows it.
Faults (429 with ``Retry-After``, 5xx, latency) come from the harness's ``/_behavior``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.harness import EmulatorState, build_emulator_app

SPEC_PATH = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "datasets"
    / "slack"
    / "official-specs"
    / "slack_web_openapi_v2.json"
)
METHODS = (
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.delete",
    "reactions.add",
    "reactions.remove",
    "views.open",
    "views.publish",
    "views.update",
    "users.info",
    "users.lookupByEmail",
    "conversations.open",
    "conversations.replies",
    "oauth.v2.access",
)
MAX_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ATTACHMENTS = 100
MAX_MPIM_USERS = 8
MAX_PAGE = 1000

DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "U0ALICE001": {
        "name": "alice",
        "real_name": "Alice Moreau",
        "tz": "Europe/Paris",
        "profile": {"email": "alice@example.com", "title": "Accountant"},
    },
    "U0BOB00002": {
        "name": "bob",
        "real_name": "Bob Okafor",
        "tz": "America/New_York",
        "profile": {"email": "bob@example.com", "title": "Field engineer"},
    },
}

_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_TS = re.compile(r"^\d+\.\d+$")
_TRIGGER_ID = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")
_EMOJI_NAME = re.compile(r"^[a-z0-9_+'\-]+(::skin-tone-[2-6])?$")
_SERVER_VIEW_FIELDS = {
    "id",
    "hash",
    "state",
    "team_id",
    "app_id",
    "bot_id",
    "root_view_id",
    "previous_view_id",
}

Args = dict[str, Any]
Handler = Callable[[Args], dict[str, Any]]


@dataclass(frozen=True)
class MethodContract:
    """What the spec says about one method."""

    name: str
    spec_verb: str
    required: tuple[str, ...]
    token_location: str | None
    token_required: bool
    errors: frozenset[str]


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The Slack Web API OpenAPI document; a clear error when the shared dataset is not there."""
    if not path.is_file():
        raise FileNotFoundError(
            f"Slack Web API spec not found at {path}: the Slack emulator reads it at runtime "
            "(../shared/datasets/slack/official-specs, see ../shared/datasets/README.md)"
        )
    spec: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return spec


@functools.cache
def method_contracts(path: Path = SPEC_PATH) -> dict[str, MethodContract]:
    """Required arguments, token location and documented errors of every implemented method."""
    paths = load_spec(path)["paths"]
    contracts: dict[str, MethodContract] = {}
    for method in METHODS:
        item = paths.get(f"/{method}")
        if not item:
            raise RuntimeError(f"{method} is not in the Slack Web API spec at {path}")
        verb, operation = next(iter(item.items()))
        parameters = operation.get("parameters", [])
        token = next((p for p in parameters if p["name"] == "token"), None)
        error_schema = operation.get("responses", {}).get("default", {}).get("schema", {})
        contracts[method] = MethodContract(
            name=method,
            spec_verb=verb.upper(),
            required=tuple(p["name"] for p in parameters if p.get("required") and p["name"] != "token"),
            token_location=token["in"] if token else None,
            token_required=bool(token and token.get("required")),
            errors=frozenset(error_schema.get("properties", {}).get("error", {}).get("enum", [])),
        )
    return contracts


class SlackError(Exception):
    """A Slack ``ok: false`` answer, with optional ``response_metadata.messages``."""

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def _missing(name: str, pointer: str = "") -> str:
    return f"[ERROR] missing required field: {name}" + (f" [json-pointer:{pointer}]" if pointer else "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in {"1", "true"}


def _json_arg(value: Any) -> Any:
    """A structured argument: JSON text (form bodies) or already structured (JSON bodies)."""
    return json.loads(value) if isinstance(value, str) else value


def _block_problems(blocks: list[Any], pointer: str, limit: int) -> list[str]:
    """Block Kit checks that matter to us: object with ``type``, count and section text lengths."""
    problems = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    for index, block in enumerate(blocks):
        here = f"{pointer}/{index}"
        if not isinstance(block, dict):
            problems.append(f"[ERROR] expected object [json-pointer:{here}]")
            continue
        if not isinstance(block.get("type"), str) or not block["type"]:
            problems.append(_missing("type", here))
            continue
        if block["type"] != "section":
            continue
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            problems.append(f"[ERROR] must provide either text or fields [json-pointer:{here}]")
        if isinstance(text, dict) and len(_text(text.get("text"))) > MAX_SECTION_TEXT:
            problems.append(
                f"[ERROR] must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{here}/text/text]"
            )
        if isinstance(fields, list):
            if len(fields) > MAX_SECTION_FIELDS:
                problems.append(
                    f"[ERROR] no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{here}/fields]"
                )
            for number, item in enumerate(fields):
                if isinstance(item, dict) and len(_text(item.get("text"))) > MAX_FIELD_TEXT:
                    problems.append(
                        f"[ERROR] must be less than {MAX_FIELD_TEXT + 1} characters "
                        f"[json-pointer:{here}/fields/{number}/text]"
                    )
    return problems


def _message_content(args: Args) -> dict[str, Any]:
    """``text`` / ``blocks`` / ``attachments`` of a message, validated like ``chat.postMessage``."""
    content: dict[str, Any] = {}
    if "text" in args:
        content["text"] = _text(args["text"])
        if len(content["text"]) > MAX_TEXT:
            raise SlackError("msg_too_long")
    if "blocks" in args:
        try:
            blocks = _json_arg(args["blocks"])
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        problems = _block_problems(blocks, "/blocks", MAX_MESSAGE_BLOCKS)
        if problems:
            raise SlackError("invalid_blocks", *problems)
        content["blocks"] = blocks
    if "attachments" in args:
        try:
            attachments = _json_arg(args["attachments"])
        except ValueError:
            raise SlackError("invalid_attachments") from None
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise SlackError("invalid_attachments")
        if len(attachments) > MAX_ATTACHMENTS:
            raise SlackError("too_many_attachments")
        content["attachments"] = attachments
    if not (content.get("text") or content.get("blocks") or content.get("attachments")):
        raise SlackError("no_text")
    return content


def _complete_user(user_id: str, given: dict[str, Any], team_id: str) -> dict[str, Any]:
    """A ``users.info`` user object (shape of the spec's example) filled in around ``given``."""
    name = str(given.get("name", user_id.lower()))
    real_name = str(given.get("real_name") or given.get("profile", {}).get("real_name") or name.title())
    tz = str(given.get("tz", "Europe/London"))
    try:
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        tz_label, tz_offset = now.tzname() or tz, int(offset.total_seconds()) if offset else 0
    except (ZoneInfoNotFoundError, ValueError):
        tz_label, tz_offset = tz, 0
    avatar = hashlib.sha1(user_id.encode()).hexdigest()[:12]
    profile: dict[str, Any] = {
        "real_name": real_name,
        "real_name_normalized": real_name,
        "display_name": name,
        "display_name_normalized": name,
        "avatar_hash": avatar,
        "image_48": f"https://avatars.slack-emulator.invalid/{avatar}_48.png",
        "image_72": f"https://avatars.slack-emulator.invalid/{avatar}_72.png",
        "image_192": f"https://avatars.slack-emulator.invalid/{avatar}_192.png",
        "status_text": "",
        "status_emoji": "",
        "team": team_id,
        **given.get("profile", {}),
    }
    user: dict[str, Any] = {
        "id": user_id,
        "team_id": team_id,
        "name": name,
        "deleted": False,
        "color": "9f69e7",
        "real_name": real_name,
        "tz": tz,
        "tz_label": tz_label,
        "tz_offset": tz_offset,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "is_app_user": False,
        "updated": 1_700_000_000,
        "has_2fa": False,
    }
    user.update({k: v for k, v in given.items() if k != "profile"})
    user["id"], user["profile"] = user_id, profile
    return user


def _encode_cursor(ts: str) -> str:
    """Opaque cursor in the style of the spec's example (base64 of ``next_ts:<digits>``)."""
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


@dataclass
class SlackWorkspace:
    """The emulated workspace: users, messages, reactions, views and DMs, plus the method handlers."""

    team_id: str
    bot_user_id: str
    users: dict[str, dict[str, Any]]
    bot_id: str = ""
    app_id: str = "A0DESKPILOT"
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ephemeral: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reactions: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    home_views: dict[str, str] = field(default_factory=dict)
    dms: dict[str, str] = field(default_factory=dict)
    group_dms: dict[str, list[str]] = field(default_factory=dict)
    opened: set[str] = field(default_factory=set)
    clock: int = 1_700_000_000_000_000
    made: int = 0

    def handlers(self) -> dict[str, Handler]:
        return {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.delete": self.chat_delete,
            "reactions.add": self.reactions_add,
            "reactions.remove": self.reactions_remove,
            "views.open": self.views_open,
            "views.publish": self.views_publish,
            "views.update": self.views_update,
            "users.info": self.users_info,
            "users.lookupByEmail": self.users_lookup_by_email,
            "conversations.open": self.conversations_open,
            "conversations.replies": self.conversations_replies,
        }

    # ---- helpers -------------------------------------------------------------------------------------

    def next_ts(self) -> str:
        """Monotonic message timestamps: ``1700000000.000100``, ``1700000000.000200`` ..."""
        self.clock += 100
        return f"{self.clock // 1_000_000}.{self.clock % 1_000_000:06d}"

    def dm_for(self, user_id: str) -> str:
        if user_id not in self.dms:
            digest = hashlib.sha1(f"{self.team_id}:{user_id}".encode()).hexdigest()[:10].upper()
            self.dms[user_id] = f"D{digest}"
        return self.dms[user_id]

    def channel(self, value: Any, error: str = "channel_not_found") -> str:
        """A conversation id; a user id means the app's DM with that user, as in ``chat.postMessage``."""
        channel = _text(value)
        if channel in self.users:
            return self.dm_for(channel)
        if not _CONVERSATION_ID.match(channel):
            raise SlackError(error)
        return channel

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def render(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        rendered = deepcopy(message)
        reactions = self.reactions.get(channel, {}).get(message["ts"], {})
        if reactions:
            rendered["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)} for name, users in reactions.items()
            ]
        return rendered

    def refresh_thread(self, channel: str, parent_ts: str) -> None:
        parent = self.find(channel, parent_ts)
        if parent is None:
            return
        replies = [m for m in self.messages[channel] if m.get("thread_ts") == parent_ts and m is not parent]
        for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply", "subscribed"):
            parent.pop(key, None)
        if replies:
            reply_users = list(dict.fromkeys(m["user"] for m in replies))
            parent.update(
                thread_ts=parent_ts,
                reply_count=len(replies),
                reply_users=reply_users,
                reply_users_count=len(reply_users),
                latest_reply=replies[-1]["ts"],
                subscribed=False,
            )

    def bot_message(self, ts: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": content.get("text", ""),
            "ts": ts,
            **{k: content[k] for k in ("blocks", "attachments") if k in content},
        }

    def view_hash(self) -> str:
        self.made += 1
        digest = hashlib.sha1(str(self.made).encode()).hexdigest()[:8]
        return f"{self.clock // 1_000_000 + self.made}.{digest}"

    def parse_view(self, args: Args, kinds: set[str]) -> dict[str, Any]:
        """The ``view`` argument, checked the way views.* report problems (``invalid_arguments``)."""
        if args.get("view") in (None, ""):
            raise SlackError("invalid_arguments", _missing("view"))
        try:
            view = _json_arg(args["view"])
        except ValueError:
            view = None
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", "[ERROR] invalid `view` [json-pointer:/view]")
        problems = []
        if "type" not in view:
            problems.append(_missing("type", "/view"))
        elif view["type"] not in kinds:
            problems.append(f"[ERROR] must be one of: {', '.join(sorted(kinds))} [json-pointer:/view/type]")
        if view.get("type") == "modal" and "title" not in view:
            problems.append(_missing("title", "/view"))
        if "blocks" not in view:
            problems.append(_missing("blocks", "/view"))
        elif not isinstance(view["blocks"], list):
            problems.append("[ERROR] must be an array [json-pointer:/view/blocks]")
        else:
            problems.extend(_block_problems(view["blocks"], "/view/blocks", MAX_VIEW_BLOCKS))
        if problems:
            raise SlackError("invalid_arguments", *problems)
        return view

    def store_view(self, given: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
        if existing is None:
            view_id = f"V0DP{len(self.views) + 1:07d}"
            view: dict[str, Any] = {
                "id": view_id,
                "team_id": self.team_id,
                "type": given["type"],
                "blocks": [],
                "private_metadata": "",
                "callback_id": "",
                "state": {"values": {}},
                "hash": "",
                "clear_on_close": False,
                "notify_on_close": False,
                "close": None,
                "submit": None,
                "previous_view_id": None,
                "root_view_id": view_id,
                "app_id": self.app_id,
                "external_id": "",
                "app_installed_team_id": self.team_id,
                "bot_id": self.bot_id,
            }
        else:
            view = existing
        view.update({k: v for k, v in given.items() if k not in _SERVER_VIEW_FIELDS})
        view["hash"] = self.view_hash()
        self.views[view["id"]] = view
        return view

    # ---- methods -------------------------------------------------------------------------------------

    def auth_test(self, args: Args) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://deskpilot-test.slack.com/",
            "team": "Deskpilot Test",
            "user": self.users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def chat_post_message(self, args: Args) -> dict[str, Any]:
        channel = self.channel(args["channel"])
        content = _message_content(args)
        message = self.bot_message(self.next_ts(), content)
        thread_ts = _text(args.get("thread_ts"))
        parent = self.find(channel, thread_ts) if thread_ts else None
        if thread_ts:
            message["thread_ts"] = thread_ts
            if parent is not None:
                message["parent_user_id"] = parent["user"]
            if _flag(args.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        self.messages.setdefault(channel, []).append(message)
        if thread_ts:
            self.refresh_thread(channel, thread_ts)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": self.render(channel, message)}

    def chat_update(self, args: Args) -> dict[str, Any]:
        channel = self.channel(args["channel"])
        message = self.find(channel, _text(args["ts"]))
        if message is None:
            raise SlackError("message_not_found")
        message.update(_message_content(args))
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self.render(channel, message),
        }

    def chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        channel = self.channel(args["channel"])
        user = _text(args["user"])
        if user not in self.users or self.users[user].get("deleted"):
            raise SlackError("user_not_in_channel")
        message = {**self.bot_message(self.next_ts(), _message_content(args)), "recipient": user}
        if args.get("thread_ts"):
            message["thread_ts"] = _text(args["thread_ts"])
        self.ephemeral.setdefault(channel, []).append(message)
        return {"ok": True, "message_ts": message["ts"]}

    def chat_delete(self, args: Args) -> dict[str, Any]:
        # The spec marks neither argument required; Slack cannot act without both.
        channel = self.channel(args.get("channel"))
        ts = _text(args.get("ts"))
        message = self.find(channel, ts)
        if message is None:
            raise SlackError("message_not_found")
        has_replies = bool(message.get("reply_count"))
        if has_replies:
            message.update(subtype="tombstone", text="This message was deleted.", user="USLACKBOT")
            for key in ("blocks", "attachments", "bot_id", "app_id"):
                message.pop(key, None)
        else:
            self.messages[channel].remove(message)
        self.reactions.get(channel, {}).pop(ts, None)
        parent_ts = message.get("thread_ts")
        if parent_ts and parent_ts != ts:
            self.refresh_thread(channel, parent_ts)
        return {"ok": True, "channel": channel, "ts": ts}

    def reacted_message(self, args: Args) -> tuple[str, str]:
        # reactions.* document message_not_found, not channel_not_found, for a message they cannot find.
        channel = self.channel(args["channel"], error="message_not_found")
        ts = _text(args["timestamp"])
        if not _TS.match(ts):
            raise SlackError("bad_timestamp")
        if self.find(channel, ts) is None:
            raise SlackError("message_not_found")
        return channel, ts

    def reaction_name(self, args: Args) -> str:
        name = _text(args["name"])
        if not _EMOJI_NAME.match(name):
            raise SlackError("invalid_name")
        return name

    def reactions_add(self, args: Args) -> dict[str, Any]:
        name = self.reaction_name(args)
        channel, ts = self.reacted_message(args)
        users = self.reactions.setdefault(channel, {}).setdefault(ts, {}).setdefault(name, [])
        if self.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.bot_user_id)
        return {"ok": True}

    def reactions_remove(self, args: Args) -> dict[str, Any]:
        name = self.reaction_name(args)
        if args.get("file") or args.get("file_comment"):
            raise SlackError("file_not_found" if args.get("file") else "file_comment_not_found")
        if "channel" not in args or "timestamp" not in args:
            raise SlackError("no_item_specified")
        channel, ts = self.reacted_message(args)
        on_message = self.reactions.get(channel, {}).get(ts, {})
        if self.bot_user_id not in on_message.get(name, []):
            raise SlackError("no_reaction")
        on_message[name].remove(self.bot_user_id)
        if not on_message[name]:
            del on_message[name]
        return {"ok": True}

    def views_open(self, args: Args) -> dict[str, Any]:
        if not _TRIGGER_ID.match(_text(args["trigger_id"])):
            raise SlackError("invalid_arguments", "[ERROR] invalid `trigger_id` [json-pointer:/trigger_id]")
        given = self.parse_view(args, {"modal"})
        external_id = given.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        return {"ok": True, "view": deepcopy(self.store_view(given))}

    def views_publish(self, args: Args) -> dict[str, Any]:
        user_id = _text(args["user_id"])
        if user_id not in self.users:
            raise SlackError("invalid_arguments", "invalid `user_id`")
        given = self.parse_view(args, {"home"})
        existing = self.views.get(self.home_views.get(user_id, ""))
        if existing is not None and args.get("hash") and args["hash"] != existing["hash"]:
            raise SlackError("hash_conflict")
        view = self.store_view(given, existing)
        self.home_views[user_id] = view["id"]
        return {"ok": True, "view": deepcopy(view)}

    def views_update(self, args: Args) -> dict[str, Any]:
        # The spec marks nothing required here; its descriptions ask for view_id or external_id, and a view.
        view_id, external_id = _text(args.get("view_id")), _text(args.get("external_id"))
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", "[ERROR] either `view_id` or `external_id` is required")
        existing = self.views.get(view_id) if view_id else None
        if existing is None and external_id:
            existing = next((v for v in self.views.values() if v.get("external_id") == external_id), None)
        if existing is None:
            raise SlackError("not_found")
        given = self.parse_view(args, {existing["type"]})
        if args.get("hash") and args["hash"] != existing["hash"]:
            raise SlackError("hash_conflict")
        return {"ok": True, "view": deepcopy(self.store_view(given, existing))}

    def users_info(self, args: Args) -> dict[str, Any]:
        # The spec does not mark `user` required; without it Slack finds no user.
        user = self.users.get(_text(args.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        found = deepcopy(user)
        if _flag(args.get("include_locale")):
            found["locale"] = "en-US"
        return {"ok": True, "user": found}

    def users_lookup_by_email(self, args: Args) -> dict[str, Any]:
        email = _text(args["email"]).strip().lower()
        for user in self.users.values():
            if email and str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": deepcopy(user)}
        raise SlackError("users_not_found")

    def conversations_open(self, args: Args) -> dict[str, Any]:
        raw_users = args.get("users")
        if raw_users:
            ids = raw_users if isinstance(raw_users, list) else _text(raw_users).split(",")
            users = [u.strip() for u in map(str, ids) if u.strip()]
            if any(u not in self.users for u in users):
                raise SlackError("user_not_found")
            if len(users) > MAX_MPIM_USERS:
                raise SlackError("too_many_users")
            if len(users) == 1:
                channel = self.dm_for(users[0])
            else:
                key = ",".join(sorted(set(users)))
                digest = hashlib.sha1(f"{self.team_id}:{key}".encode()).hexdigest()[:10].upper()
                channel = f"G{digest}"
                self.group_dms[channel] = users
        elif args.get("channel"):
            channel = _text(args["channel"])
            if channel.startswith("C"):
                raise SlackError("method_not_supported_for_channel_type")
            if channel not in self.dms.values() and channel not in self.group_dms:
                raise SlackError("channel_not_found")
        else:
            raise SlackError("users_list_not_supplied")
        body: dict[str, Any] = {"ok": True, "channel": {"id": channel}}
        if channel in self.opened:
            body.update(no_op=True, already_open=True)
        self.opened.add(channel)
        if _flag(args.get("return_im")) and channel.startswith("D"):
            user = next(u for u, d in self.dms.items() if d == channel)
            body["channel"] = {
                "id": channel,
                "created": 1_700_000_000,
                "is_im": True,
                "is_org_shared": False,
                "user": user,
                "is_user_deleted": bool(self.users[user].get("deleted")),
                "priority": 0,
                "is_open": True,
                "last_read": "0000000000.000000",
                "latest": None,
                "unread_count": 0,
                "unread_count_display": 0,
            }
        return body

    def conversations_replies(self, args: Args) -> dict[str, Any]:
        # The spec marks nothing required; Slack needs the channel and the parent's ts to find a thread.
        channel = self.channel(args.get("channel"))
        ts = _text(args.get("ts"))
        if self.find(channel, ts) is None:
            raise SlackError("thread_not_found")
        thread = [m for m in self.messages[channel] if m["ts"] == ts or m.get("thread_ts") == ts]
        try:
            limit = min(max(int(args.get("limit") or MAX_PAGE), 1), MAX_PAGE)
        except ValueError:
            raise SlackError("invalid_arguments", "[ERROR] invalid `limit`") from None
        start = 0
        if args.get("cursor"):
            try:
                marker = base64.b64decode(_text(args["cursor"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
            positions = [i for i, m in enumerate(thread) if f"next_ts:{m['ts'].replace('.', '')}" == marker]
            if not positions:
                raise SlackError("invalid_cursor")
            start = positions[0]
        page = thread[start : start + limit]
        body: dict[str, Any] = {
            "ok": True,
            "messages": [self.render(channel, m) for m in page],
            "has_more": start + limit < len(thread),
        }
        if body["has_more"]:
            body["response_metadata"] = {"next_cursor": _encode_cursor(thread[start + limit]["ts"])}
        return body

    def snapshot(self) -> dict[str, Any]:
        """Everything ``GET /_state`` shows."""
        return deepcopy(
            {
                "messages": {c: [self.render(c, m) for m in ms] for c, ms in self.messages.items()},
                "ephemeral": self.ephemeral,
                "reactions": self.reactions,
                "views": self.views,
                "home_views": {user: self.views[view_id] for user, view_id in self.home_views.items()},
                "dms": self.dms,
            }
        )


async def _read_arguments(request: Request) -> tuple[Args, str | None]:
    """Arguments from the query string and a form or JSON body, and the token if one was presented."""
    query = dict(request.query_params)
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body_token: str | None = None
    args: Args = dict(query)
    if raw and content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("json_not_object")
        body.pop("token", None)  # Slack takes the token from the Authorization header with JSON bodies.
        args.update(body)
    elif raw and content_type.startswith("multipart/"):
        raise SlackError("invalid_form_data")
    elif raw:
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise SlackError("invalid_form_data") from None
        body_token = form.pop("token", None)
        args.update(form)
    query_token = args.pop("token", None) if "token" in query else None
    authorization = request.headers.get("authorization", "")
    header_token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    token = header_token or body_token or query_token
    return {k: v for k, v in args.items() if v is not None}, token or None


@dataclass(frozen=True)
class OAuthGrant:
    """What one OAuth install of the app into a workspace yields (``oauth.v2.access``)."""

    team_id: str
    team_name: str
    bot_token: str
    bot_user_id: str = "U0DESKBOT2"
    installer_user_id: str = "U0INSTALLER"
    app_id: str = "A0DESKPILOT"
    scopes: tuple[str, ...] = ("chat:write", "im:history", "app_mentions:read", "commands")


def build_app(
    *,
    bot_token: str = "xoxb-test-token",
    team_id: str = "T0DESKPILOT",
    bot_user_id: str = "U0DESKBOT",
    users: dict[str, dict[str, Any]] | None = None,
    oauth_client: tuple[str, str] | None = None,
    oauth_grants: dict[str, OAuthGrant] | None = None,
) -> tuple[FastAPI, EmulatorState]:
    """The emulator app; ``users`` maps user ids to (partial) user objects, completed like ``users.info``.

    With ``oauth_client`` (client id, secret), ``oauth.v2.access`` exchanges each code of ``oauth_grants``
    once for its workspace's bot token, which is accepted from then on (``auth.test`` reports its team).
    """
    contracts = method_contracts()
    app, state = build_emulator_app("slack-web-api")
    bot_id = "B" + bot_user_id[1:]
    given_users = dict(DEFAULT_USERS if users is None else users)
    given_users.setdefault(
        bot_user_id,
        {"name": "deskpilot", "real_name": "Deskpilot", "is_bot": True, "profile": {"bot_id": bot_id}},
    )
    workspace = SlackWorkspace(
        team_id=team_id,
        bot_user_id=bot_user_id,
        bot_id=bot_id,
        users={uid: _complete_user(uid, given, team_id) for uid, given in given_users.items()},
    )
    handlers = workspace.handlers()
    app.state.contracts = contracts
    app.state.workspace = workspace

    @app.get("/_state")
    async def get_state() -> dict[str, Any]:
        return workspace.snapshot()

    grants = dict(oauth_grants or {})
    issued: dict[str, OAuthGrant] = {}

    def oauth_v2_access(args: Args, authorization: str) -> dict[str, Any]:
        """https://api.slack.com/methods/oauth.v2.access: client credentials by Basic auth or arguments."""
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            client_id, _, client_secret = decoded.partition(":")
        if oauth_client is None or client_id != oauth_client[0]:
            raise SlackError("invalid_client_id")
        if client_secret != oauth_client[1]:
            raise SlackError("bad_client_secret")
        grant = grants.pop(str(args.get("code", "")), None)  # codes are single-use
        if grant is None:
            raise SlackError("invalid_code")
        issued[grant.bot_token] = grant
        return {
            "ok": True,
            "access_token": grant.bot_token,
            "token_type": "bot",
            "scope": ",".join(grant.scopes),
            "bot_user_id": grant.bot_user_id,
            "app_id": grant.app_id,
            "team": {"id": grant.team_id, "name": grant.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": grant.installer_user_id},
        }

    @app.api_route("/api/{method}", methods=["GET", "POST"], response_model=None)
    async def web_api(method: str, request: Request) -> JSONResponse:
        handler = handlers.get(method)
        if handler is None and method != "oauth.v2.access":
            return JSONResponse({"ok": False, "error": "unknown_method", "req_method": method}, 404)
        try:
            args, token = await _read_arguments(request)
            missing = [name for name in contracts[method].required if name not in args]
            if method == "oauth.v2.access":
                if missing:
                    raise SlackError("invalid_arguments", *(_missing(name) for name in missing))
                return JSONResponse(oauth_v2_access(args, request.headers.get("authorization", "")))
            if token is None:
                raise SlackError("not_authed")
            if token != bot_token and token not in issued:
                raise SlackError("invalid_auth")
            if missing:
                raise SlackError("invalid_arguments", *(_missing(name) for name in missing))
            assert handler is not None
            result = handler(args)
            if method == "auth.test" and token in issued:
                grant = issued[token]
                result = {**result, "team_id": grant.team_id, "team": grant.team_name}
                result.update(user_id=grant.bot_user_id, bot_id="B" + grant.bot_user_id[1:])
            return JSONResponse(result)
        except SlackError as failure:
            return JSONResponse(failure.body())

    return app, state
