"""slack-bolt listeners: Slack payloads in, the adapter's inbound messages out.

The same AsyncApp serves HTTP mode (signed requests) and Socket Mode. Every command, interaction and event
is handed to the runtime in the background and acknowledged once the runtime has stored it (at the latest
after ACK_SECONDS, inside Slack's 3 s): a crash after the acknowledgement loses nothing. The slow work
(effects, further Slack calls) carries on after it. Every message subtype the app is subscribed to has a
listener, so nothing answers 404 (which would make Slack retry).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from adapters.base import (
    ActionSubmitted,
    ButtonOutOfDate,
    CommandIssued,
    MessageDeleted,
    MessageEdited,
    Reply,
    UserMessage,
)
from adapters.slack import render
from adapters.slack.adapter import SlackAdapter, message_ref

log = logging.getLogger("facilitator.slack")

# Message subtypes that carry something a person wrote; every other subtype is acknowledged and ignored.
_AUTHORED = {None, "thread_broadcast", "file_share", "me_message"}


class _NoTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns, at every start, that the
    client given to it (made from that same token) wins: true, harmless, and alarming to read."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_bolt_log = logging.getLogger("facilitator.slack.bolt")
_bolt_log.addFilter(_NoTokenWarning())


@dataclass
class StartDefaults:
    """What the start modal offers: structures (name -> description), phases (kind, title, minutes)."""

    structures: dict[str, str] = field(default_factory=lambda: {"opera": "OPERA"})
    structure: str = "opera"
    phases: list[tuple[str, str, float]] = field(default_factory=list)
    voting: str = "dots"
    dots: int = 3
    own_private: bool = True


def build_app(
    adapter: SlackAdapter,
    *,
    signing_secret: str | None,
    command: str = "/opera",
    defaults: StartDefaults | None = None,
    socket_mode: bool = False,
) -> AsyncApp:
    defaults = defaults or StartDefaults()
    app = AsyncApp(
        client=adapter.client,
        signing_secret=signing_secret,
        # Socket Mode has no signatures to check; HTTP mode must (forged or stale -> 401).
        request_verification_enabled=not socket_mode,
        # Every listener returns (and acknowledges) once what it handed the runtime is stored, within Slack's
        # 3 s, and leaves the rest running: events too are acknowledged only then, not before the listener.
        process_before_response=True,
        logger=_bolt_log,
    )

    @app.command(command)
    async def on_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        text = (body.get("text") or "").strip()
        if text.lower() == "start":
            await ack()
            # The trigger expires in 3 s and is single-use: open the modal before anything slow.
            await adapter.client.views_open(trigger_id=body["trigger_id"],
                                            view=start_view(defaults, body["channel_id"]))
            return

        async def work() -> None:
            person = await adapter.person(body["user_id"], body.get("user_name"))
            reply = await adapter.receive(CommandIssued(
                channel=body["channel_id"], person=person, text=render.unescape(text),
                private=await adapter.is_bot_dm(body["channel_id"], person.id),
                event_id=f"command:{body['trigger_id']}"))
            await _respond(respond, reply)

        await adapter.hand_over(work, ack)

    @app.event("message")
    async def on_message(body: dict[str, Any]) -> None:
        # Bolt acknowledges an event when this returns (process_before_response): after it is stored.
        await adapter.hand_over(lambda: _message_event(adapter, body))

    @app.action(re.compile(r"^op\|"))
    async def on_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        clicked = body["actions"][0]
        decoded = render.decode_action_id(clicked["action_id"])
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        try:
            if decoded is None:
                raise render.ButtonOutOfDate(clicked["action_id"])
            value, form = render.unpack_button_value(clicked.get("value"))
        except render.ButtonOutOfDate:
            await adapter.hand_over(lambda: _out_of_date(adapter, body, channel, respond), ack)
            return
        session_id, action_id, coded_value = decoded
        value = coded_value if value is None else value
        message = body.get("message") or {}
        if form is None and message:
            form = await adapter.form_for(channel, message.get("ts", ""), action_id)
        if form is not None:
            await ack()
            meta = {"s": session_id, "a": action_id, "v": value, "c": channel, "t": message.get("thread_ts")}
            await adapter.client.views_open(trigger_id=body["trigger_id"], view=render.form_view(form, meta))
            return

        async def work() -> None:
            person = await adapter.person(body["user"]["id"], body["user"].get("name"))
            reply = await adapter.receive(ActionSubmitted(
                channel=channel, person=person, session_id=session_id, action=action_id, value=value,
                private=await adapter.is_bot_dm(channel, person.id), event_id=f"action:{body['trigger_id']}"))
            await _respond(respond, reply)

        await adapter.hand_over(work, ack)

    @app.view(render.FORM_CALLBACK)
    async def on_form(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            values = render.form_values((view.get("state") or {}).get("values") or {})
            meta = render.form_metadata(view)
        except render.ButtonOutOfDate:
            await adapter.hand_over(lambda: _out_of_date(adapter, body, "", None), ack)
            return
        errors = render.duplicate_rank_errors(values)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        channel = meta.get("c", "")

        async def work() -> None:
            person = await adapter.person(body["user"]["id"], body["user"].get("name"))
            reply = await adapter.receive(ActionSubmitted(
                channel=channel, person=person, session_id=meta.get("s", ""), action=meta.get("a", ""),
                value=meta.get("v") or "", values=values, private=await adapter.is_bot_dm(channel, person.id),
                event_id=f"view:{view['id']}"))
            if reply:
                await adapter.tell(person.id, channel, reply.text, meta.get("t"))

        await adapter.hand_over(work, ack)

    @app.view(render.START_CALLBACK)
    async def on_start(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            channel = render.form_metadata(view).get("c", "")
            options = start_options((view.get("state") or {}).get("values") or {})
        except render.ButtonOutOfDate:
            await adapter.hand_over(lambda: _out_of_date(adapter, body, "", None), ack)
            return

        async def work() -> None:
            person = await adapter.person(body["user"]["id"], body["user"].get("name"))
            reply = await adapter.receive(CommandIssued(
                channel=channel, person=person, text="start", options=options, event_id=f"view:{view['id']}"))
            if reply:
                await adapter.tell(person.id, channel, reply.text)

        await adapter.hand_over(work, ack)

    return app


async def _out_of_date(adapter: SlackAdapter, body: dict[str, Any], channel: str,
                       respond: AsyncRespond | None) -> None:
    """A button or form that does not decode: the person hears it is out of date (never an HTTP 500), where they
    clicked, or in their DM for a modal (which has nowhere else to answer)."""
    person = await adapter.person(body["user"]["id"], body["user"].get("name"))
    reply = await adapter.receive(ButtonOutOfDate(channel=channel, person=person))
    if respond is not None:
        await _respond(respond, reply)
    elif reply is not None:
        await adapter.tell(person.id, await adapter.dm_channel(person.id), reply.text)


async def _respond(respond: AsyncRespond, reply: Reply | None) -> None:
    """A reply to a command or button goes back through its response_url, seen only by the sender."""
    if reply is None:
        return
    body = render.mrkdwn(reply.text)
    await respond(text=render.fallback_text(body), blocks=render.message_blocks(body, [], ""),
                  response_type="ephemeral", replace_original=False)


async def _message_event(adapter: SlackAdapter, body: dict[str, Any]) -> None:
    event = body["event"]
    event_id = body.get("event_id")
    channel = event.get("channel", "")
    subtype = event.get("subtype")
    if subtype == "message_changed":
        new = event.get("message") or {}
        old = event.get("previous_message") or {}
        # The bot's own edits, thread bookkeeping and link unfurls change no one's words.
        if new.get("bot_id") or not new.get("user") or new.get("text") == old.get("text"):
            return
        person = await adapter.person(new["user"])
        await adapter.receive(MessageEdited(channel=channel, person=person, message_ref=message_ref(channel, new["ts"]),
                                            text=render.unescape(new.get("text") or ""), event_id=event_id))
        return
    if subtype == "message_deleted":
        old = event.get("previous_message") or {}
        if old.get("bot_id"):
            return
        person = await adapter.person(old["user"]) if old.get("user") else None
        await adapter.receive(MessageDeleted(channel=channel, person=person,
                                             message_ref=message_ref(channel, event["deleted_ts"]), event_id=event_id))
        return
    if subtype not in _AUTHORED or event.get("bot_id") or not event.get("user"):
        return
    kind = event.get("channel_type")
    thread_ts = event.get("thread_ts")
    reply_to: str | None = None
    if kind == "mpim":
        reply_to = channel  # a pair space: its ref is the group DM itself
    elif kind != "im" and thread_ts and thread_ts != event.get("ts"):
        reply_to = message_ref(channel, thread_ts)
    person = await adapter.person(event["user"])
    reply = await adapter.receive(UserMessage(
        channel=channel, person=person, text=render.unescape(event.get("text") or ""),
        message_ref=message_ref(channel, event["ts"]), reply_to_ref=reply_to, private=kind == "im",
        event_id=event_id, sent_at=_ts_time(event["ts"])))
    if reply:
        await adapter.tell(person.id, channel, reply.text, thread_ts)


# --- the start modal ------------------------------------------------------------------------------


def _select(block_id: str, label: str, options: list[tuple[str, str]], initial: str | None,
            optional: bool = False) -> dict[str, Any]:
    opts = [{"text": render.plain(text, render.OPTION_CHARS), "value": value} for value, text in options]
    element: dict[str, Any] = {"type": "static_select", "action_id": render.INPUT_ACTION, "options": opts}
    chosen = next((o for o in opts if o["value"] == initial), None)
    if chosen:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block_id, "optional": optional,
            "label": render.plain(label, render.LABEL_CHARS), "element": element}


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool = True) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "optional": optional,
            "label": render.plain(label, render.LABEL_CHARS), "element": {"action_id": render.INPUT_ACTION, **element}}


def start_view(d: StartDefaults, channel: str) -> dict[str, Any]:
    blocks = [
        _input("question", "Question", {"type": "plain_text_input", "multiline": True, "max_length": 500},
               optional=False),
        _select("structure", "Structure", [(k, f"{k}: {v}") for k, v in d.structures.items()], d.structure),
        _input("groups", "Breakout groups (leave empty for one group)",
               {"type": "number_input", "is_decimal_allowed": False, "min_value": "2", "max_value": "20"}),
        _select("assign", "Who goes in which group", [("mixed", "Mixed: as diverse as tags allow"),
                                                      ("random", "At random"),
                                                      ("choice", "People choose their group")], "mixed"),
        _input("plenary", "Plenary", {"type": "checkboxes", "options": [
            {"text": render.plain("Rank the groups' reported proposals together", 75), "value": "on"}]}),
        _select("own", "Own phase", [("private", "Private: ideas hidden until Explain"),
                                     ("open", "Open: replies in the thread")],
                "private" if d.own_private else "open"),
        _select("voting", "Voting", [("dots", "Dot voting"), ("borda", "Ranking (Borda count)"),
                                     ("approval", "Approval")], d.voting),
        _input("dots", "Dots per person (dot voting)",
               {"type": "number_input", "is_decimal_allowed": False, "min_value": "1", "max_value": "20",
                "initial_value": str(d.dots)}),
        _input("convenor", "Convenor (receives the note; default: you)", {"type": "users_select"}),
        _input("cofacilitators", "Co-facilitators", {"type": "multi_users_select"}),
        _input("attribution", "Note", {"type": "checkboxes", "options": [
            {"text": render.plain("Name people in the round-up note", 75), "value": "on"}]}),
    ]
    for kind, title, minutes in d.phases:
        blocks.append(_input(f"minutes_{kind}", f"{title}: minutes",
                             {"type": "number_input", "is_decimal_allowed": True, "min_value": "0.5",
                              "max_value": "240", "initial_value": f"{minutes:g}"}))
    return {
        "type": "modal",
        "callback_id": render.START_CALLBACK,
        "title": render.plain("Start a session", render.TITLE_CHARS),
        "submit": render.plain("Start", render.TITLE_CHARS),
        "close": render.plain("Cancel", render.TITLE_CHARS),
        "private_metadata": json.dumps({"c": channel}),
        "blocks": blocks,
    }


def start_options(state: dict[str, Any]) -> dict[str, Any]:
    """The start modal's fields as `CommandIssued.options` (empty ones left out: defaults apply); a state no
    start modal of ours submits raises ButtonOutOfDate."""
    try:
        raw = {block_id: render.state_value(next(iter(el.values()), {})) for block_id, el in state.items()}
    except (AttributeError, TypeError) as exc:
        raise render.ButtonOutOfDate(str(exc)) from None
    options: dict[str, Any] = {}
    for key in ("question", "structure", "voting", "own", "convenor"):
        if raw.get(key):
            options[key] = str(raw[key]).strip()
    # Numbers stay text: the runtime checks them and answers a bad one with a clear message.
    if raw.get("dots"):
        options["dots"] = str(raw["dots"]).strip()
    if raw.get("groups"):
        options["groups"] = str(raw["groups"]).strip()
        options["assign"] = str(raw.get("assign") or "mixed")
        options["plenary"] = bool(raw.get("plenary"))
    if raw.get("cofacilitators"):
        options["cofacilitators"] = list(raw["cofacilitators"])  # type: ignore[arg-type]
    if "attribution" in raw:
        options["attribution"] = bool(raw["attribution"])
    minutes = {k[len("minutes_"):]: str(v).strip() for k, v in raw.items() if k.startswith("minutes_") and v}
    if minutes:
        options["minutes"] = minutes
    return options


def _ts_time(ts: str) -> float | None:
    """A message's ts is Slack's time of posting (seconds since the epoch, and a counter in the decimals)."""
    try:
        return float(ts)
    except ValueError:
        return None
