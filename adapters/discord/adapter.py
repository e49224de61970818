"""The Discord adapter: the runtime's outbound calls as Discord REST calls, Discord's events as inbound messages.

Where things live on Discord:
- the session thread is a public thread started from the question message (thread id == message id,
  so a message in it arrives with reply_to_ref = the question's ref);
- a pair space is a private thread (type 12, not invitable) with its members added;
- `private` posts are DMs, except while the person's own interaction is being answered: then they are
  ephemeral follow-ups, which only that person sees (the facilitator's control buttons, acknowledgements);
- the note goes to the convenor by DM with its Markdown and JSON files attached (named as on every platform:
  facilitation.note.note_file_stem).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
from discord.http import Route
from yarl import URL

from adapters.base import (
    DELIVERING,
    ActionSubmitted,
    ButtonOutOfDate,
    CommandIssued,
    DeliveryError,
    Inbound,
    MessageDeleted,
    MessageEdited,
    Reply,
    Sink,
    Target,
    UserMessage,
)
from adapters.discord.client import OperaButton, OperaClient
from adapters.discord.forms import FormFlow, Values
from adapters.discord.rendering import NO_PINGS, discord_text, encode_custom_id, split_message, thread_name
from adapters.formbook import FORM_TABLES, FormBook
from adapters.words import speaker
from facilitation.effects import Action, Person
from facilitation.note import note_file_stem
from facilitation.start_options import form_answers, start_form, start_menu

log = logging.getLogger("facilitator.discord")

# Discord's JSON error codes (docs.discord.com/developers/topics/opcodes-and-status-codes#json).
MISSING_ACCESS = 50001
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
THREAD_EXISTS = 160004

FOLLOWUP_SECONDS = 14 * 60  # interaction tokens live 15 minutes
# Discord returns the earlier message for a repeated nonce (enforce_nonce) for "a few minutes"; past this, a
# post that may have been made before a crash is looked for in the channel's history instead.
NONCE_SECONDS = 120
PUBLISH_PIECES = 5  # a note longer than this many messages is posted as a summary plus the file
# The options the start form offers (a Discord modal holds five inputs: these and the question).
START_FIELDS = ("voting", "own", "minutes", "structure")


class _NoThread(Exception):
    """The session thread can't be opened; posts go to the channel (the message says why)."""


@dataclass
class _Answering:
    """The interaction being answered right now, so private posts to its author can be ephemeral."""

    interaction: discord.Interaction
    person: str
    started: float = field(default_factory=time.monotonic)
    sent: int = 0


_ANSWERING: ContextVar[_Answering | None] = ContextVar("discord_answering", default=None)


def _person(user: discord.abc.User | dict[str, Any]) -> Person:
    if isinstance(user, dict):
        name = user.get("global_name") or user.get("username") or str(user["id"])
        return Person(id=str(user["id"]), name=name)
    return Person(id=str(user.id), name=user.display_name)


class DiscordAdapter:
    name = "discord"
    finds_earlier_posts = True  # by nonce (enforce_nonce), then in the channel's history (see bot/delivery.py)

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        gateway_url: str | None = None,
        command_name: str = "opera",
        forms_path: Path | None = None,
        sync_commands: bool = True,
        structures: dict[str, str] | None = None,
        messages: Mapping[str, str] | None = None,
    ) -> None:
        self._token = token  # never logged; discord.py keeps it out of its own logs too
        self.say = speaker(messages)  # what the adapter says itself: commands, the start form, Discord's refusals
        self.menu = start_menu(self.say)
        self._api_url = api_url
        self._gateway_url = gateway_url
        self.structures = structures or {}
        self.client = OperaClient(self, command_name, sync_commands, structures)
        self.forms = FormBook(forms_path, table=FORM_TABLES["discord"])
        self._sink: Sink | None = None
        self._task: asyncio.Task[None] | None = None
        self._titles: dict[str, str] = {}  # channel post ref -> its text (names its thread)
        self._threads: dict[str, int] = {}  # session thread parent ref -> where its posts go
        self._parents: dict[int, int] = {}  # thread id -> its channel id
        self._dm_refused: set[str] = set()

    def __repr__(self) -> str:  # keep the token out of any repr that reaches a log
        return f"DiscordAdapter(api_url={self._api_url!r})"

    # --- lifecycle ----------------------------------------------------------------------------

    def bind(self, sink: Sink) -> None:
        self._sink = sink

    async def start(self, ready_timeout: float = 30) -> None:
        """Log in, connect the gateway, and return once the guilds are loaded."""
        if self._api_url:
            Route.BASE = self._api_url.rstrip("/")  # a ClassVar: the one Discord this process talks to
        if self._gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = URL(self._gateway_url)
        await self.forms.open()
        await self.client.login(self._token)
        self._task = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._task}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # re-raise the connection error
            raise TimeoutError("Discord gateway did not become ready")

    async def wait_closed(self) -> None:
        if self._task is not None:
            await self._task

    async def close(self) -> None:
        try:
            await self.client.close()
            if self._task is not None:
                try:
                    await self._task
                except asyncio.CancelledError:
                    if not self._task.cancelled():
                        raise  # this close itself is being cancelled
                except Exception:  # a connection already broken is fine when closing
                    log.debug("gateway task ended with an error on close", exc_info=True)
        finally:
            await self.forms.close()

    # --- outbound: the Adapter protocol ---------------------------------------------------------

    async def post(self, channel: str, target: Target, text: str, actions: list[Action], session_id: str) -> str:
        content = discord_text(text)
        if target.kind == "private":
            answering = _ANSWERING.get()
            if answering and answering.person == target.ref and self._still_valid(answering):
                return await self._ephemeral(answering, content, actions, session_id)
            return await self._send_dm(str(target.ref), content, actions, session_id)
        fell_back: _NoThread | None = None
        if target.kind == "thread" and target.ref:
            try:
                destination = await self._session_thread(channel, target.ref)
            except _NoThread as exc:
                fell_back, destination = exc, self._messageable(int(channel))
        elif target.kind == "pair" and target.ref:
            destination = self._messageable(int(target.ref))
        else:
            destination = self._messageable(int(channel))
        ref = await self._send(destination, content, actions, session_id, where=channel)
        if target.kind == "channel":
            self._titles[ref] = text
        if fell_back is not None:
            raise DeliveryError(str(fell_back), ref=ref)  # posted, in the channel: say so once
        return ref

    async def open_pair_space(
        self, channel: str, pair_id: str, title: str, members: list[Person], session_id: str
    ) -> str:
        parent = await self._text_channel(channel)
        name = f"{title} {pair_id}: {', '.join(m.name for m in members)}"[:100]
        try:
            thread = await parent.create_thread(
                name=name, type=discord.ChannelType.private_thread, invitable=False, auto_archive_duration=1440,
            )
        except discord.Forbidden as exc:
            if exc.code not in (MISSING_PERMISSIONS, MISSING_ACCESS):
                raise
            # Never a public thread: the intro carries both members' private ideas. With no ref, the runtime
            # sends each member the pair's messages by DM.
            raise DeliveryError(self.say("discord_no_private_threads", pair=pair_id, channel=f"<#{channel}>")) from exc
        self._parents[thread.id] = int(channel)
        for member in members:
            try:
                await thread.add_user(discord.Object(id=int(member.id)))
            except discord.HTTPException:
                log.warning("could not add %s to pair thread %s", member.id, thread.id)
        return str(thread.id)

    async def deliver_note(
        self,
        channel: str,
        convenor: Person,
        title: str,
        markdown: str,
        json_text: str,
        actions: list[Action],
        session_id: str,
        html: str | None = None,
    ) -> str:
        # The whole note, readable in the DM; the files and the Approve button come with its last part.
        stem = note_file_stem(title)
        files = [
            discord.File(io.BytesIO(markdown.encode("utf-8")), filename=f"{stem}.md"),
            discord.File(io.BytesIO(json_text.encode("utf-8")), filename=f"{stem}.json"),
        ]
        if html is not None:
            files.append(discord.File(io.BytesIO(html.encode("utf-8")), filename=f"{stem}.html"))
        return await self._send_dm(convenor.id, discord_text(markdown), actions, session_id, files=files)

    async def post_image(self, channel: str, target: Target, filename: str, data: bytes, title: str, alt: str,
                         session_id: str) -> str:
        destination: discord.abc.Messageable = self._messageable(int(channel))
        if target.kind == "thread" and target.ref:
            with contextlib.suppress(_NoThread):  # else the channel, as posts do when the thread is gone
                destination = await self._session_thread(channel, target.ref)
        file = discord.File(io.BytesIO(data), filename=filename, description=alt[:1000])
        return await self._send(destination, discord_text(title), [], session_id, where=channel, files=[file])

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        destination = self._messageable(int(channel))
        pieces = split_message(discord_text(markdown))
        if len(pieces) > PUBLISH_PIECES:
            file = discord.File(io.BytesIO(markdown.encode("utf-8")), filename=f"{note_file_stem(title)}.md")
            first = pieces[0][:1900] + "\n\u2026 (the full note is attached)"
            return await self._send(destination, first, [], session_id, where=channel, files=[file])
        refs = [await self._send(destination, piece, [], session_id, where=channel) for piece in pieces]
        return refs[0]

    # --- outbound helpers ----------------------------------------------------------------------

    def _messageable(self, channel_id: int) -> discord.abc.Messageable:
        found = self.client.get_channel(channel_id)
        if isinstance(found, discord.abc.Messageable):
            return found
        return self.client.get_partial_messageable(channel_id)

    async def _text_channel(self, channel: str) -> discord.TextChannel:
        found = self.client.get_channel(int(channel)) or await self.client.fetch_channel(int(channel))
        if not isinstance(found, discord.TextChannel):
            raise DeliveryError(self.say("discord_not_text_channel", channel=f"<#{channel}>"))
        return found

    def _view(self, actions: list[Action], session_id: str) -> discord.ui.View | None:
        if not actions:
            return None
        view = discord.ui.View(timeout=None)
        for action in actions[:25]:
            view.add_item(OperaButton(session_id, action.id, action.value, action.label, action.style))
        return view

    async def _remember_forms(self, message_id: int, actions: list[Action], session_id: str) -> None:
        for action in actions:
            if action.form is not None:
                custom_id = encode_custom_id(session_id, action.id, action.value)
                await self.forms.put(str(message_id), custom_id, action.form)

    async def _send(
        self, destination: discord.abc.Messageable, content: str, actions: list[Action], session_id: str,
        where: str, files: list[discord.File] | None = None,
    ) -> str:
        """Send `content` (split to Discord's limit), buttons on the last piece; return the first piece's id."""
        pieces = split_message(content)
        first: discord.Message | None = None
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS}
            if last:
                view = self._view(actions, session_id)
                if view is not None:
                    kwargs["view"] = view
                if files:
                    kwargs["files"] = files
            try:
                message = await self._send_once(destination, piece, kwargs)
            except discord.Forbidden as exc:
                raise DeliveryError(self._forbidden_text(exc, where)) from exc
            first = first or message
            if last:
                await self._remember_forms(message.id, actions, session_id)
        assert first is not None
        return str(first.id)

    async def _send_once(self, destination: discord.abc.Messageable, piece: str,
                         kwargs: dict[str, Any]) -> discord.Message:
        """Send one piece of an effect with a nonce derived from the effect's key, so a repeat after a crash or
        a lost answer returns the message Discord already has (enforce_nonce) instead of a second one."""
        doing = DELIVERING.get()
        if doing is None:
            return await destination.send(piece, **kwargs)
        nonce = doing.nonce()  # taken in order whether or not it is used, so each piece keeps its own
        if doing.maybe_sent and time.time() - doing.since > NONCE_SECONDS:
            found = await self._find_sent(destination, piece, doing.since)
            if found is not None:
                return found
        return await destination.send(piece, nonce=nonce, **kwargs)

    async def _find_sent(self, destination: discord.abc.Messageable, piece: str,
                         since: float) -> discord.Message | None:
        """The bot's message with this content sent since `since`, if Discord has it (history has no nonces)."""
        me = self.client.user
        try:
            after = discord.Object(id=discord.utils.time_snowflake(
                datetime.fromtimestamp(since - 5, UTC), high=False))
            async for message in destination.history(after=after, limit=200, oldest_first=True):
                if me is not None and message.author.id == me.id and message.content == piece:
                    return message
        except discord.HTTPException:
            log.warning("could not look for an earlier post; sending it again")
        return None

    def _forbidden_text(self, exc: discord.Forbidden, where: str) -> str:
        return self.say("discord_message_refused", channel=f"<#{where}>", code=exc.code, why=exc.text)

    async def _session_thread(self, channel: str, parent_ref: str) -> discord.abc.Messageable:
        """The public thread on the question message, opened the first time something is posted to it."""
        known = self._threads.get(parent_ref)
        if known is not None:
            return self._messageable(known)
        parent_id = int(parent_ref)
        if isinstance(self.client.get_channel(parent_id), discord.Thread):
            self._threads[parent_ref] = parent_id
            return self._messageable(parent_id)
        text_channel = await self._text_channel(channel)
        try:
            thread = await text_channel.get_partial_message(parent_id).create_thread(
                name=thread_name(self._titles.get(parent_ref, "")), auto_archive_duration=1440,
            )
            thread_id = thread.id
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:  # made before a restart: the thread id is the message id
                thread_id = parent_id
            elif isinstance(exc, discord.Forbidden):
                # No threads allowed: the session goes on in the channel itself.
                self._threads[parent_ref] = int(channel)
                raise _NoThread(self.say("discord_no_session_thread", channel=f"<#{channel}>")) from exc
            else:
                raise
        self._threads[parent_ref] = thread_id
        self._parents[thread_id] = int(channel)
        return self._messageable(thread_id)

    async def _send_dm(
        self, person: str, content: str, actions: list[Action], session_id: str,
        files: list[discord.File] | None = None,
    ) -> str:
        try:
            dm = await self.client.create_dm(discord.Object(id=int(person)))
            return await self._send_raw(dm, content, actions, session_id, files)
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM:
                raise DeliveryError(self.say("discord_dm_refused", person=f"<@{person}>", code=exc.code)) from exc
            first_time = person not in self._dm_refused
            self._dm_refused.add(person)
            if not first_time and files is None:
                return "!undeliverable"  # the facilitator was told once; don't repeat it for every message
            name = f"<@{person}>"  # shown as their name; AllowedMentions.none() keeps it from pinging
            key = "discord_cannot_dm_note" if files else "discord_cannot_dm"
            raise DeliveryError(self.say(key, person=name)) from exc

    async def _send_raw(
        self, destination: discord.abc.Messageable, content: str, actions: list[Action], session_id: str,
        files: list[discord.File] | None,
    ) -> str:
        pieces = split_message(content)
        refs: list[str] = []
        for n, piece in enumerate(pieces):
            kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS}
            if n == len(pieces) - 1:
                if (view := self._view(actions, session_id)) is not None:
                    kwargs["view"] = view
                if files:
                    kwargs["files"] = files
            message = await self._send_once(destination, piece, kwargs)
            refs.append(str(message.id))
            if n == len(pieces) - 1:
                await self._remember_forms(message.id, actions, session_id)
        # With files, the last part (which carries them and the buttons) stands for the whole.
        return refs[-1] if files else refs[0]

    def _still_valid(self, answering: _Answering) -> bool:
        return time.monotonic() - answering.started < FOLLOWUP_SECONDS

    async def _ephemeral(self, answering: _Answering, content: str, actions: list[Action], session_id: str) -> str:
        refs: list[str] = []
        pieces = split_message(content)
        for n, piece in enumerate(pieces):
            kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": NO_PINGS, "wait": True}
            if n == len(pieces) - 1 and (view := self._view(actions, session_id)) is not None:
                kwargs["view"] = view
            message = await answering.interaction.followup.send(piece, **kwargs)
            answering.sent += 1
            refs.append(str(message.id))
            if n == len(pieces) - 1:
                await self._remember_forms(message.id, actions, session_id)
        return refs[0]

    # --- inbound ------------------------------------------------------------------------------

    async def _deliver(self, inbound: Inbound) -> Reply | None:
        if self._sink is None:
            log.warning("no runtime bound; dropped %s", inbound.type)
            return None
        return await self._sink(inbound)

    def thread_seen(self, thread: discord.Thread) -> None:
        if thread.parent_id is not None:
            self._parents[thread.id] = thread.parent_id

    def _home(self, channel_id: int, channel: Any = None) -> str:
        """The session channel for a message: a thread's parent channel, or the channel itself."""
        if channel_id in self._parents:
            return str(self._parents[channel_id])
        channel = channel or self.client.get_channel(channel_id)
        parent_id = getattr(channel, "parent_id", None)
        if isinstance(channel, discord.Thread) and parent_id is not None:
            self._parents[channel_id] = parent_id
            return str(parent_id)
        return str(channel_id)

    def _is_thread(self, channel_id: int, channel: Any = None) -> bool:
        return channel_id in self._parents or isinstance(channel or self.client.get_channel(channel_id), discord.Thread)

    async def message_created(self, message: discord.Message) -> None:
        me = self.client.user
        if message.author.bot or (me is not None and message.author.id == me.id):
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return  # joins, pins, thread-created notices
        person = _person(message.author)
        event_id = f"discord:message:{message.id}"
        if message.guild is None:
            inbound: Inbound = UserMessage(channel=str(message.channel.id), person=person, text=message.content,
                                           message_ref=str(message.id), private=True, event_id=event_id)
        else:
            reply_to: str | None = None
            ref = message.reference
            if ref is not None and ref.message_id is not None and ref.message_id != message.channel.id:
                resolved = ref.resolved
                to_bot = isinstance(resolved, discord.Message) and me is not None and resolved.author.id == me.id
                if to_bot or resolved is None:
                    reply_to = str(ref.message_id)
            if reply_to is None and self._is_thread(message.channel.id, message.channel):
                reply_to = str(message.channel.id)  # session thread (id == question ref) or pair thread ref
            inbound = UserMessage(channel=self._home(message.channel.id, message.channel), person=person,
                                  text=message.content, message_ref=str(message.id), reply_to_ref=reply_to,
                                  event_id=event_id)
        reply = await self._deliver(inbound)
        if reply is not None:
            await self._reply_privately(message, reply.text)

    async def _reply_privately(self, message: discord.Message, text: str) -> None:
        """A Reply to a plain message has no interaction to be ephemeral in: it goes by DM."""
        try:
            await self._send_dm(str(message.author.id), discord_text(text), [], "")
        except DeliveryError:
            log.info("could not DM a reply to %s", message.author.id)

    async def message_edited(self, payload: discord.RawMessageUpdateEvent) -> None:
        data = payload.data
        author = data.get("author")
        if author is None or author.get("bot") or "content" not in data:
            return  # embed unfurls and other partial updates carry no new text
        stamp = data.get("edited_timestamp") or ""
        await self._deliver(MessageEdited(
            channel=self._home(payload.channel_id), person=_person(author), message_ref=str(payload.message_id),
            text=data["content"], event_id=f"discord:edit:{payload.message_id}:{stamp}",
        ))

    async def message_deleted(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._deliver(MessageDeleted(
            channel=self._home(payload.channel_id), message_ref=str(payload.message_id),
            event_id=f"discord:delete:{payload.message_id}",
        ))

    # --- interactions ---------------------------------------------------------------------------

    def _interaction_channel(self, interaction: discord.Interaction) -> str:
        if interaction.channel_id is None:
            return ""
        return self._home(interaction.channel_id, interaction.channel)

    @staticmethod
    def _in_bot_dm(interaction: discord.Interaction) -> bool:
        """Pressed or typed in the person's own DM with the bot (not a server, not someone else's DM)."""
        return interaction.guild_id is None and bool(interaction.context.dm_channel)

    async def _answer(self, interaction: discord.Interaction, inbound: Inbound) -> None:
        """Hand `inbound` to the runtime while this interaction is open, then show any Reply ephemerally."""
        answering = _Answering(interaction, str(interaction.user.id))
        token = _ANSWERING.set(answering)
        try:
            reply = await self._deliver(inbound)
        finally:
            _ANSWERING.reset(token)
        done = answering.sent == 0 and self._thinking(interaction)
        text = reply.text if reply is not None else (self.say("command_done") if done else "")
        for piece in split_message(discord_text(text)) if text else []:
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PINGS)

    @staticmethod
    def _thinking(interaction: discord.Interaction) -> bool:
        """A deferred slash command shows "thinking…" until a follow-up replaces it."""
        return interaction.type != discord.InteractionType.component

    async def command(self, interaction: discord.Interaction, text: str, options: dict[str, Any] | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # within 3 s, before any slow work
        channel = self._interaction_channel(interaction)
        await self._answer(interaction, CommandIssued(
            channel=channel, person=_person(interaction.user), text=text, options=options or {},
            private=self._in_bot_dm(interaction), event_id=f"discord:interaction:{interaction.id}",
        ))

    async def start_form(self, interaction: discord.Interaction, options: dict[str, Any]) -> None:
        async def submitted(modal_interaction: discord.Interaction, values: Values) -> None:
            await self.command(modal_interaction, "start", {**options, **form_answers(values)})

        form = start_form(self.menu, START_FIELDS, dict(sorted(self.structures.items())), {})
        await FormFlow(form, submitted, self.say).start(interaction)

    async def out_of_date(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await self._answer(interaction, ButtonOutOfDate(
            channel=self._interaction_channel(interaction), person=_person(interaction.user),
            event_id=f"discord:interaction:{interaction.id}"))

    async def clicked(self, interaction: discord.Interaction, session_id: str, action_id: str, value: str) -> None:
        custom_id = encode_custom_id(session_id, action_id, value)
        message_id = str(interaction.message.id) if interaction.message else ""
        channel = self._interaction_channel(interaction)
        form = await self.forms.get(message_id, custom_id)

        async def submit(answer_to: discord.Interaction, values: Values) -> None:
            await answer_to.response.defer(ephemeral=True, thinking=answer_to is not interaction)
            await self._answer(answer_to, ActionSubmitted(
                channel=channel, person=_person(answer_to.user), session_id=session_id, action=action_id,
                value=value, values=values, private=self._in_bot_dm(interaction),
                event_id=f"discord:interaction:{answer_to.id}",
            ))

        if form is None:
            await submit(interaction, {})
        else:
            await FormFlow(form, submit, self.say).start(interaction)
