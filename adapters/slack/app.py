"""slack-bolt listeners: Slack payloads in, the adapter's inbound messages out.

The same AsyncApp serves HTTP mode (signed requests) and Socket Mode. Every command, interaction and event
is handed to the runtime in the background and acknowledged once the runtime has stored it (at the latest
after ACK_SECONDS, inside Slack's 3 s): a crash after the acknowledgement loses nothing. The slow work
(effects, further Slack calls) carries on after it. Every message subtype the app is subscribed to has a
listener, so nothing answers 404 (which would make Slack retry).
"""

from __future__ import annotations

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
from adapters.words import Say
from facilitation.start_options import form_answers, start_form, start_menu

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
                                            view=start_view(defaults, body["channel_id"], adapter.say))
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
            view = render.form_view(form, meta, adapter.say("form_cancel"))
            await adapter.client.views_open(trigger_id=body["trigger_id"], view=view)
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
        errors = render.duplicate_rank_errors(values, adapter.say("vote_rank_repeated_field"))
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

# The options the start modal offers, in this order (facilitation/start_options.py defines them).
START_FIELDS = ("structure", "groups", "assign", "plenary", "own", "voting", "dots", "convenor", "cofacilitators",
                "attribution", "minutes")


def start_view(d: StartDefaults, channel: str, say: Say) -> dict[str, Any]:
    """The start form as a modal: the settings' defaults filled in, and the minutes of each of the default
    structure's phases."""
    initial = {"structure": d.structure, "assign": "mixed", "own": "private" if d.own_private else "open",
               "voting": d.voting, "dots": str(d.dots)}
    form = start_form(start_menu(say), START_FIELDS, d.structures, initial, d.phases)
    return render.form_view(form, {"c": channel}, say("form_cancel"), callback_id=render.START_CALLBACK, prefix="")


def start_options(state: dict[str, Any]) -> dict[str, Any]:
    """The start modal's fields as `CommandIssued.options` (empty ones left out: defaults apply); a state no
    start modal of ours submits raises ButtonOutOfDate."""
    return form_answers(render.form_values(state, prefix=""))


def _ts_time(ts: str) -> float | None:
    """A message's ts is Slack's time of posting (seconds since the epoch, and a counter in the decimals)."""
    try:
        return float(ts)
    except ValueError:
        return None
