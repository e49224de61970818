"""The Discord adapter: the runtime's outbound calls as Discord REST calls (the Adapter protocol), and its lifecycle.

Where things live on Discord:
- the session thread is a public thread started from the question message (thread id == message id,
  so a message in it arrives with reply_to_ref = the question's ref);
- a pair space is a private thread (type 12, not invitable) with its members added;
- `private` posts are DMs, except while the person's own interaction is being answered: then they are
  ephemeral follow-ups, which only that person sees (the facilitator's control buttons, acknowledgements);
- the note goes to the convenor by DM with its Markdown and JSON files attached (named as on every platform:
  facilitation.note.note_file_stem).

Every message goes out through one path (`_send`): split to Discord's limit, buttons and files on the last
piece. Inbound translation is adapters/discord/app.py; the discord.py client (commands, buttons, listeners,
which Discord it talks to) is client.py; text and ids as Discord needs them are rendering.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord

from adapters.base import DELIVERING, DeliveryError, Inbound, NotDelivered, Reply, Sink, StartRefused, Target
from adapters.discord.app import DiscordApp
from adapters.discord.client import OperaButton, opera_client
from adapters.discord.invite import INTENT_FIX, TOKEN_FIX, shard_refused
from adapters.discord.rendering import NO_PINGS, discord_text, encode_custom_id, split_message, thread_name
from adapters.formbook import FORM_TABLES, FormBook
from adapters.words import speaker
from facilitation.effects import Action, Person
from facilitation.note import note_file_stem
from facilitation.start_options import start_menu

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
LOOKUP_MARGIN = 5.0  # seconds before the first attempt that a look for what it made starts (clock skew)
PUBLISH_PIECES = 5  # a note longer than this many messages is posted as a summary plus the file
IDENTIFY_SPACING = 5.0  # seconds discord.py waits before identifying each shard after a process's first


class _NoThread(Exception):
    """The session thread can't be opened; posts go to the channel (the message says why)."""


# One message piece out, with the keyword arguments of the piece (mentions, buttons, files): to a channel, a
# thread or a DM (with the effect's nonce), or as an interaction's ephemeral follow-up.
Put = Callable[[str, dict[str, Any]], Awaitable[discord.Message]]


@dataclass
class Answering:
    """The interaction being answered right now, so private posts to its author can be ephemeral."""

    interaction: discord.Interaction
    person: str
    started: float = field(default_factory=time.monotonic)
    sent: int = 0

    @property
    def open(self) -> bool:
        return time.monotonic() - self.started < FOLLOWUP_SECONDS

    async def put(self, piece: str, extra: dict[str, Any]) -> discord.Message:
        message = await self.interaction.followup.send(piece, ephemeral=True, wait=True, **extra)
        self.sent += 1
        return message


_ANSWERING: ContextVar[Answering | None] = ContextVar("discord_answering", default=None)


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
        forms: FormBook | None = None,
        sync_commands: bool = True,
        structures: dict[str, str] | None = None,
        messages: Mapping[str, str] | None = None,
        shard_ids: list[int] | None = None,
        shard_count: int | None = None,
    ) -> None:
        self._token = token  # never logged; discord.py keeps it out of its own logs too
        self.say = speaker(messages)  # what the adapter says itself: commands, the start form, Discord's refusals
        self.menu = start_menu(self.say)
        self._api_url = api_url
        self.structures = structures or {}
        # Which form each button opens: `forms` where the bot keeps them, else a file of its own (or memory).
        self.forms = forms or FormBook(forms_path, table=FORM_TABLES["discord"])
        self.app = DiscordApp(self)
        # Sharded: only the shards given, so several processes share the bot's servers (docs/deploy.md).
        self.client = opera_client(self.app, command_name, sync_commands, structures, api_url=api_url,
                                   gateway_url=gateway_url, shard_ids=shard_ids, shard_count=shard_count)
        self._sink: Sink | None = None
        self._task: asyncio.Task[None] | None = None
        self._titles: dict[str, str] = {}  # channel post ref -> its text (names its thread)
        self._threads: dict[str, int] = {}  # session thread parent ref -> where its posts go
        self._parents: dict[int, int] = {}  # thread id -> its channel id
        self._dm_refused: set[str] = set()
        self._logged_in = False

    def __repr__(self) -> str:  # keep the token out of any repr that reaches a log
        return f"DiscordAdapter(api_url={self._api_url!r})"

    # --- lifecycle ----------------------------------------------------------------------------

    def bind(self, sink: Sink) -> None:
        self._sink = sink

    async def check(self) -> None:
        """Log in (Discord checks the token); the gateway is connected by `start`."""
        if self._logged_in:
            return
        try:
            await self.client.login(self._token)
        except discord.LoginFailure:
            raise StartRefused(f"DISCORD_TOKEN was refused by Discord: {TOKEN_FIX}") from None
        self._logged_in = True

    async def start(self, ready_timeout: float = 30) -> None:
        """Log in, connect the gateway, and return once the guilds are loaded (of every shard this runs)."""
        if self._task is not None:
            return
        await self.check()
        await self.forms.open()
        self._task = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        # discord.py identifies a process's shards one after another, 5 s apart (Discord's identify limit).
        shards = len(getattr(self.client, "shard_ids", None) or [0])
        done, _ = await asyncio.wait({ready, self._task}, timeout=ready_timeout + IDENTIFY_SPACING * (shards - 1),
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                try:
                    self._task.result()  # re-raise the connection error
                except discord.PrivilegedIntentsRequired:
                    raise StartRefused(f"Discord refused the connection: {INTENT_FIX}") from None
                except discord.ConnectionClosed as exc:
                    refused = shard_refused(exc.code, exc.shard_id, self.client.shard_count)
                    if refused is None:
                        raise
                    raise StartRefused(refused) from None
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
            if answering and answering.person == target.ref and answering.open:
                return await self._send(answering.put, content, actions, session_id)
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
        ref = await self._post_in(destination, channel, content, actions, session_id)
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
            # Thread creation takes no nonce: one this effect may have made before (the process stopped before
            # Discord's answer came) is looked for first, so a restart does not open a second.
            doing = DELIVERING.get()
            thread = await self._made_before(parent, name, doing.since) if doing and doing.maybe_sent else None
            thread = thread or await parent.create_thread(
                name=name, type=discord.ChannelType.private_thread, invitable=False, auto_archive_duration=1440,
            )
        except discord.Forbidden as exc:
            if exc.code not in (MISSING_PERMISSIONS, MISSING_ACCESS):
                raise
            # Never a public thread: the intro carries both members' private ideas. With no ref, the runtime
            # sends each member the pair's messages by DM.
            raise DeliveryError(self.say("discord_no_private_threads", pair=pair_id, channel=f"<#{channel}>")) from exc
        self._parents[thread.id] = int(channel)
        for member in members:  # again for a thread made before: adding a member twice is harmless
            try:
                await thread.add_user(discord.Object(id=int(member.id)))
            except discord.HTTPException:
                log.warning("could not add %s to pair thread %s", member.id, thread.id)
        return str(thread.id)

    async def deliver_note(self, channel: str, convenor: Person, title: str, markdown: str, json_text: str,
                           actions: list[Action], session_id: str, html: str | None = None) -> str:
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
        return await self._post_in(destination, channel, discord_text(title), [], session_id, files=[file])

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        destination = self._messageable(int(channel))
        pieces = split_message(discord_text(markdown))
        if len(pieces) > PUBLISH_PIECES:
            file = discord.File(io.BytesIO(markdown.encode("utf-8")), filename=f"{note_file_stem(title)}.md")
            first = pieces[0][:1900] + "\n\u2026 (the full note is attached)"
            return await self._post_in(destination, channel, first, [], session_id, files=[file])
        refs = [await self._post_in(destination, channel, piece, [], session_id) for piece in pieces]
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
            raise DeliveryError(f"<#{channel}> is not a text channel, so I can't open threads in it.")
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

    async def _send(self, put: Put, content: str, actions: list[Action], session_id: str,
                    files: list[discord.File] | None = None) -> str:
        """The one sending path: `content` split to Discord's limit, the buttons and files on the last piece (and
        its forms remembered). Returns the first piece's id; with files, the last's, which carries them and the
        buttons and stands for the whole."""
        view = self._view(actions, session_id)  # before any piece goes: a button id that does not fit raises
        pieces = split_message(content)
        sent: list[discord.Message] = []
        for n, piece in enumerate(pieces):
            extra: dict[str, Any] = {"allowed_mentions": NO_PINGS}
            if n == len(pieces) - 1:
                if view is not None:
                    extra["view"] = view
                if files:
                    extra["files"] = files
            sent.append(await put(piece, extra))
        await self._remember_forms(sent[-1].id, actions, session_id)
        return str((sent[-1] if files else sent[0]).id)

    def _to(self, destination: discord.abc.Messageable) -> Put:
        return lambda piece, extra: self._send_once(destination, piece, extra)

    async def _post_in(self, destination: discord.abc.Messageable, where: str, content: str,
                       actions: list[Action], session_id: str, files: list[discord.File] | None = None) -> str:
        """A post in the session's channel `where` or one of its threads; a refusal says which permissions."""
        try:
            return await self._send(self._to(destination), content, actions, session_id, files)
        except discord.Forbidden as exc:
            raise DeliveryError(self._forbidden_text(exc, where)) from exc

    async def _send_once(self, destination: discord.abc.Messageable, piece: str,
                         extra: dict[str, Any]) -> discord.Message:
        """Send one piece of an effect with a nonce derived from the effect's key, so a repeat after a crash or
        a lost answer returns the message Discord already has (enforce_nonce) instead of a second one."""
        doing = DELIVERING.get()
        if doing is None:
            return await destination.send(piece, **extra)
        nonce = doing.nonce()  # taken in order whether or not it is used, so each piece keeps its own
        if doing.maybe_sent and time.time() - doing.since > NONCE_SECONDS:
            found = await self._find_sent(destination, piece, doing.since)
            if found is not None:
                return found
        return await destination.send(piece, nonce=nonce, **extra)

    async def _made_before(self, parent: discord.TextChannel, name: str, since: float) -> discord.Thread | None:
        """The bot's private thread called `name` in `parent`, opened since `since`, if Discord has it."""
        me = self.client.user
        try:
            threads = await parent.guild.active_threads()
        except discord.HTTPException:
            log.warning("could not look for an earlier pair thread; opening it again")
            return None
        found = [t for t in threads if t.parent_id == parent.id and t.type == discord.ChannelType.private_thread
                 and me is not None and t.owner_id == me.id and t.name == name
                 and discord.utils.snowflake_time(t.id).timestamp() >= since - LOOKUP_MARGIN]
        thread = max(found, key=lambda t: t.id, default=None)
        if thread is not None:
            log.info("pair thread %s had been opened after all", thread.id)
        return thread

    async def _find_sent(self, destination: discord.abc.Messageable, piece: str,
                         since: float) -> discord.Message | None:
        """The bot's message with this content sent since `since`, if Discord has it (history has no nonces)."""
        me = self.client.user
        try:
            after = discord.Object(id=discord.utils.time_snowflake(
                datetime.fromtimestamp(since - LOOKUP_MARGIN, UTC), high=False))
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
            return await self._send(self._to(dm), content, actions, session_id, files)
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM:
                raise DeliveryError(self.say("discord_dm_refused", person=f"<@{person}>", code=exc.code)) from exc
            first_time = person not in self._dm_refused
            self._dm_refused.add(person)
            if not first_time and files is None:
                raise NotDelivered from exc  # the facilitator was told once; don't repeat it for every message
            name = f"<@{person}>"  # shown as their name; AllowedMentions.none() keeps it from pinging
            key = "discord_cannot_dm_note" if files else "discord_cannot_dm"
            raise DeliveryError(self.say(key, person=name)) from exc

    # --- for the inbound side (adapters/discord/app.py) ------------------------------------------

    async def receive(self, inbound: Inbound) -> Reply | None:
        """Hand an inbound message to the runtime."""
        if self._sink is None:
            log.warning("no runtime bound; dropped %s", inbound.type)
            return None
        return await self._sink(inbound)

    @contextlib.contextmanager
    def answering(self, interaction: discord.Interaction) -> Iterator[Answering]:
        """While the runtime handles this interaction, private posts to its author are ephemeral follow-ups."""
        answering = Answering(interaction, str(interaction.user.id))
        token = _ANSWERING.set(answering)
        try:
            yield answering
        finally:
            _ANSWERING.reset(token)

    async def ephemeral(self, answering: Answering, text: str) -> None:
        """An immediate answer that only the interaction's author sees."""
        await self._send(answering.put, discord_text(text), [], "")

    async def direct_message(self, person: str, text: str) -> None:
        await self._send_dm(person, discord_text(text), [], "")

    def home(self, channel_id: int, channel: Any = None) -> str:
        """The session channel for a message: a thread's parent channel, or the channel itself."""
        if channel_id in self._parents:
            return str(self._parents[channel_id])
        channel = channel or self.client.get_channel(channel_id)
        parent_id = getattr(channel, "parent_id", None)
        if isinstance(channel, discord.Thread) and parent_id is not None:
            self._parents[channel_id] = parent_id
            return str(parent_id)
        return str(channel_id)

    def is_thread(self, channel_id: int, channel: Any = None) -> bool:
        return channel_id in self._parents or isinstance(channel or self.client.get_channel(channel_id), discord.Thread)
