"""Discord's interactions and gateway events as the runtime's inbound messages (the client's `Listener`).

A message in a thread belongs to the thread's channel; in the session thread or a pair thread it replies to the
thread's ref (the session thread's id is the question's). While an interaction is being answered, private posts
to its author are ephemeral follow-ups (DiscordAdapter.answering), and the runtime's Reply is shown the same way;
a Reply to a plain message goes by DM.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from adapters.base import (
    ActionSubmitted,
    ButtonOutOfDate,
    CommandIssued,
    DeliveryError,
    Inbound,
    MessageDeleted,
    MessageEdited,
    UserMessage,
)
from adapters.discord.forms import FormFlow, Values
from adapters.discord.rendering import encode_custom_id
from adapters.discord.start_form import start_form, start_options
from facilitation.effects import Person

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

log = logging.getLogger("facilitator.discord")


def _person(user: discord.abc.User | dict[str, Any]) -> Person:
    if isinstance(user, dict):
        name = user.get("global_name") or user.get("username") or str(user["id"])
        return Person(id=str(user["id"]), name=name)
    return Person(id=str(user.id), name=user.display_name)


class DiscordApp:
    """Translates what the client hears into inbound messages and hands them to the adapter's runtime."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    @property
    def client(self) -> discord.Client:
        return self.adapter.client

    # --- messages -----------------------------------------------------------------------------

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
                                           message_ref=str(message.id), private=True, event_id=event_id,
                                           sent_at=message.created_at.timestamp())
        else:
            reply_to: str | None = None
            ref = message.reference
            if ref is not None and ref.message_id is not None and ref.message_id != message.channel.id:
                resolved = ref.resolved
                to_bot = isinstance(resolved, discord.Message) and me is not None and resolved.author.id == me.id
                if to_bot or resolved is None:
                    reply_to = str(ref.message_id)
            if reply_to is None and self.adapter.is_thread(message.channel.id, message.channel):
                reply_to = str(message.channel.id)  # session thread (id == question ref) or pair thread ref
            inbound = UserMessage(channel=self.adapter.home(message.channel.id, message.channel), person=person,
                                  text=message.content, message_ref=str(message.id), reply_to_ref=reply_to,
                                  event_id=event_id, sent_at=message.created_at.timestamp())
        reply = await self.adapter.receive(inbound)
        if reply is not None:
            await self._reply_privately(message, reply.text)

    async def _reply_privately(self, message: discord.Message, text: str) -> None:
        """A Reply to a plain message has no interaction to be ephemeral in: it goes by DM."""
        try:
            await self.adapter.direct_message(str(message.author.id), text)
        except DeliveryError:
            log.info("could not DM a reply to %s", message.author.id)

    async def message_edited(self, payload: discord.RawMessageUpdateEvent) -> None:
        data = payload.data
        author = data.get("author")
        if author is None or author.get("bot") or "content" not in data:
            return  # embed unfurls and other partial updates carry no new text
        stamp = data.get("edited_timestamp") or ""
        await self.adapter.receive(MessageEdited(
            channel=self.adapter.home(payload.channel_id), person=_person(author),
            message_ref=str(payload.message_id), text=data["content"],
            event_id=f"discord:edit:{payload.message_id}:{stamp}",
        ))

    async def message_deleted(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.adapter.receive(MessageDeleted(
            channel=self.adapter.home(payload.channel_id), message_ref=str(payload.message_id),
            event_id=f"discord:delete:{payload.message_id}",
        ))

    # --- interactions ---------------------------------------------------------------------------

    def _interaction_channel(self, interaction: discord.Interaction) -> str:
        if interaction.channel_id is None:
            return ""
        return self.adapter.home(interaction.channel_id, interaction.channel)

    @staticmethod
    def _in_bot_dm(interaction: discord.Interaction) -> bool:
        """Pressed or typed in the person's own DM with the bot (not a server, not someone else's DM)."""
        return interaction.guild_id is None and bool(interaction.context.dm_channel)

    async def _answer(self, interaction: discord.Interaction, inbound: Inbound) -> None:
        """Hand `inbound` to the runtime while this interaction is open, then show any Reply ephemerally."""
        with self.adapter.answering(interaction) as answering:
            reply = await self.adapter.receive(inbound)
        text = reply.text if reply is not None else ("Done." if answering.sent == 0 and self._thinking(interaction)
                                                     else "")
        if text:
            await self.adapter.ephemeral(answering, text)

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
            await self.command(modal_interaction, "start", {**options, **start_options(values)})

        await FormFlow(start_form(self.adapter.structures), submitted).start(interaction)

    async def out_of_date(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await self._answer(interaction, ButtonOutOfDate(
            channel=self._interaction_channel(interaction), person=_person(interaction.user),
            event_id=f"discord:interaction:{interaction.id}"))

    async def clicked(self, interaction: discord.Interaction, session_id: str, action_id: str, value: str) -> None:
        custom_id = encode_custom_id(session_id, action_id, value)
        message_id = str(interaction.message.id) if interaction.message else ""
        channel = self._interaction_channel(interaction)
        form = await self.adapter.forms.get(message_id, custom_id)

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
            await FormFlow(form, submit).start(interaction)
