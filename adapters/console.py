r"""The console adapter: a session in the terminal. One person can play facilitator and participants.

Lines typed (or scripted) look like this (names are case-insensitive; the name is also the id):
    Ana: my idea                  reply in the session thread (type \n for a new line: "Ben: - one\n- two")
    Ana@b12: a comment            reply to the bot's message b12 (a proposal, the empty chair)
    Ana dm: my private idea       a private message to the bot
    Ana pair: shall we pick #3?   a message in Ana's pair space
    Ana /vote 1 1 2               the bot's command (/start, /next, /pick, /vote, /help ...); the / is optional:
                                  Ana vote 1 1 2, Fay theme rename 2 New label
    Ana !edit u3 better wording   edit your message u3;  Ana !delete u3  deletes it
    Ana !click b7 Pick ideas=i3 reason=short   press a button, filling in its form
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shlex
import sys
import threading
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel

from adapters.base import (
    ActionSubmitted,
    CommandIssued,
    Inbound,
    MessageDeleted,
    MessageEdited,
    Reply,
    Sink,
    Target,
    UserMessage,
)
from facilitation.effects import Action, Person
from facilitation.help import COMMAND_WORDS
from facilitation.note import note_file_stem

USER_REF_PREFIX = "u"  # people's messages are u1, u2, ...
BOT_REF_PREFIX = "b"  # the bot's are b1, b2, ...
_LINE = re.compile(
    r"^\s*(?P<name>[^\s:@/!]+)\s*(?:(?P<at>@\S+)\s*:|(?P<kind>dm|pair)\s*:|:|(?=[/!]))\s?(?P<rest>.*)$", re.S
)
# "Dee vote 1 2", "Fay theme rename 1 Money": a command typed as the bot's messages say to type it
_TYPED = re.compile(r"^\s*(?P<name>[^\s:@/!]+)\s+(?P<rest>(?P<word>[A-Za-z]+)\b.*)$", re.S)


class ConsoleMessage(BaseModel):
    ref: str
    where: str  # channel | thread | private:<id> | pair:<space ref>
    text: str
    actions: list[Action] = []
    files: list[str] = []
    session_id: str = ""
    kind: str = "post"  # post | note | published


class ConsoleAdapter:
    name = "console"
    delivers_inline = True  # a terminal shows each answer before it takes the next line

    def __init__(self, out: TextIO | None = None, channel: str = "#breakout", note_dir: Path | None = None,
                 typed: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.typed = typed  # where people's lines come from when served (stdin); scripts call user_line instead
        self.channel = channel
        self.note_dir = note_dir
        self.note_files: list[Path] = []  # the latest note's Markdown and JSON files, once written
        self.messages: list[ConsoleMessage] = []
        self.names: dict[str, str] = {}
        self._sink: Sink | None = None
        self._ids = itertools.count(1)
        self._user_ids = itertools.count(1)
        self._root: str | None = None  # the latest thread parent in the channel
        self._spaces: dict[str, str] = {}  # person id -> pair space ref
        self._space_names: dict[str, str] = {}
        self.last_user_ref = ""

    def bind(self, sink: Sink) -> None:
        self._sink = sink

    async def check(self) -> None:
        """No credentials: the terminal is there."""

    async def start(self) -> None:
        """Nothing to connect to."""

    async def wait_closed(self) -> None:
        """Act out each line typed until the input ends (Ctrl-D); nothing to wait for without an input."""
        if self.typed is None:
            return
        lines = _lines_of(self.typed)
        while (line := await lines.get()) is not None:
            if line.strip():
                await self.user_line(line.rstrip("\n"))

    async def close(self) -> None:
        """Nothing to let go of."""

    def number_after(self, last: int, last_bot: int = 0) -> None:
        """Number people's messages from last + 1 and the bot's from last_bot + 1 (the highest stored before a
        restart), so refs stay unique."""
        self._user_ids = itertools.count(last + 1)
        self._ids = itertools.count(last_bot + 1)

    # --- outbound ------------------------------------------------------------------------------

    def _show(self, label: str, text: str, ref: str, actions: list[Action]) -> None:
        body = text.replace("\n", "\n    ")
        self.out.write(f"[{label}] bot ({ref}): {body}\n")
        if actions:
            self.out.write("    buttons: " + " | ".join(f"[{a.label}]" for a in actions) + "\n")
        self.out.flush()

    def _label(self, target: Target) -> str:
        if target.kind == "thread":
            return f"{self.channel} > thread {target.ref}"
        if target.kind == "private":
            return f"DM to {self.names.get(target.ref or '', target.ref)}"
        if target.kind == "pair":
            return f"pair space {self._space_names.get(target.ref or '', target.ref)}"
        return self.channel

    async def post(self, channel: str, target: Target, text: str, actions: list[Action], session_id: str) -> str:
        ref = f"{BOT_REF_PREFIX}{next(self._ids)}"
        where = {"thread": "thread", "channel": "channel"}.get(target.kind, f"{target.kind}:{target.ref}")
        if target.kind == "thread":
            self._root = target.ref
        self.messages.append(ConsoleMessage(ref=ref, where=where, text=text, actions=actions, session_id=session_id))
        self._show(self._label(target), text, ref, actions)
        return ref

    async def open_pair_space(
        self, channel: str, pair_id: str, title: str, members: list[Person], session_id: str
    ) -> str:
        ref = f"space-{session_id}-{pair_id}"
        for m in members:
            self._spaces[m.id] = ref
            self.names.setdefault(m.id, m.name)
        self._space_names[ref] = f"{pair_id} ({', '.join(m.name for m in members)})"
        self.out.write(f"[{self.channel}] pair space {self._space_names[ref]} opened\n")
        return ref

    async def deliver_note(
        self, channel: str, convenor: Person, title: str, markdown: str, json_text: str,
        actions: list[Action], session_id: str, html: str | None = None,
    ) -> str:
        ref = f"{BOT_REF_PREFIX}{next(self._ids)}"
        stem = note_file_stem(title)
        files = [f"{stem}.md", f"{stem}.json"] + ([f"{stem}.html"] if html is not None else [])
        shown = files
        if self.note_dir is not None:  # the files the line below says were sent: written, so they can be opened
            self.note_dir.mkdir(parents=True, exist_ok=True)
            self.note_files = [self.note_dir / f for f in files]
            self.note_files[0].write_text(markdown, encoding="utf-8")
            self.note_files[1].write_text(json_text, encoding="utf-8")
            if html is not None:
                self.note_files[2].write_text(html, encoding="utf-8")
            shown = [str(p) for p in self.note_files]
        self.messages.append(ConsoleMessage(ref=ref, where=f"private:{convenor.id}", text=markdown, actions=actions,
                                            files=files, session_id=session_id, kind="note"))
        self._show(f"DM to {convenor.name}, files {', '.join(shown)}", markdown, ref, actions)
        return ref

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        ref = f"{BOT_REF_PREFIX}{next(self._ids)}"
        self.messages.append(ConsoleMessage(ref=ref, where="channel", text=markdown, session_id=session_id,
                                            kind="published"))
        self._show(self.channel, markdown, ref, [])
        return ref

    async def post_image(self, channel: str, target: Target, filename: str, data: bytes, title: str, alt: str,
                         session_id: str) -> str:
        ref = f"{BOT_REF_PREFIX}{next(self._ids)}"
        where = "thread" if target.kind == "thread" else "channel"
        if self.note_dir is not None:
            self.note_dir.mkdir(parents=True, exist_ok=True)
            (self.note_dir / filename).write_bytes(data)
        self.messages.append(ConsoleMessage(ref=ref, where=where, text=f"{title}\n{alt}", files=[filename],
                                            session_id=session_id, kind="image"))
        self._show(self.channel if where == "channel" else f"{self.channel} > thread", f"[image {filename}] {alt}",
                   ref, [])
        return ref

    # --- inbound -------------------------------------------------------------------------------

    def person(self, name: str) -> Person:
        pid = name.strip().lower()
        self.names.setdefault(pid, name.strip())
        return Person(id=pid, name=self.names[pid])

    def session_of(self, ref: str) -> str:
        return next((m.session_id for m in self.messages if m.ref == ref), "")

    async def send(self, inbound: Inbound) -> Reply | None:
        assert self._sink is not None, "bind() the adapter to a runtime first"
        reply = await self._sink(inbound)
        if reply is not None:
            self.out.write(f"[only for {inbound.person.name if inbound.person else '?'}] bot: {reply.text}\n")
        return reply

    async def user_line(self, line: str) -> Reply | None:
        """Act out one typed line; a line the console can't read gets a usage hint."""
        typed = _TYPED.match(line)
        if typed and typed.group("word").lower() in COMMAND_WORDS:
            person = self.person(typed.group("name"))
            return await self.send(CommandIssued(channel=self.channel, person=person, text=typed.group("rest")))
        m = _LINE.match(line)
        if not m or not m.group("rest").strip():
            self.out.write("[console] Type: Name: text | Name dm: text | Name pair: text | Name@b3: text | "
                           "Name /command | Name !edit u1 text | Name !delete u1 | Name !click b3 Label key=value\n")
            return None
        person = self.person(m.group("name"))
        rest = m.group("rest").strip().replace("\\n", "\n")  # a typed \n starts a new line (for lists)
        if rest.startswith("/"):
            return await self.send(CommandIssued(channel=self.channel, person=person, text=rest[1:]))
        if rest.startswith("!"):
            return await self._special(person, rest[1:])
        ref = self.last_user_ref = f"{USER_REF_PREFIX}{next(self._user_ids)}"
        self.out.write(f"[{m.group('kind') or 'thread'}] {person.name} ({ref}): {rest}\n")
        kind, at = m.group("kind"), m.group("at")
        if kind == "dm":
            msg = UserMessage(channel=self.channel, person=person, text=rest, message_ref=ref, private=True)
        elif kind == "pair":
            msg = UserMessage(channel=self.channel, person=person, text=rest, message_ref=ref,
                              reply_to_ref=self._spaces.get(person.id))
        else:
            # Before any thread post this run (just after a restart) there is no thread to reply in: the line goes
            # to the bot directly, which finds the person's session, rather than being taken for chatter.
            root = at[1:] if at else self._root
            msg = UserMessage(channel=self.channel, person=person, text=rest, message_ref=ref, reply_to_ref=root,
                              private=root is None)
        return await self.send(msg)

    async def _special(self, person: Person, rest: str) -> Reply | None:
        try:
            words = shlex.split(rest)
        except ValueError:
            words = rest.split()
        if not words:
            return None
        verb = words[0].lower()
        if verb == "edit" and len(words) >= 3:
            return await self.send(MessageEdited(channel=self.channel, person=person, message_ref=words[1],
                                                 text=rest.split(None, 2)[2]))
        if verb == "delete" and len(words) == 2:
            return await self.send(MessageDeleted(channel=self.channel, person=person, message_ref=words[1]))
        if verb == "click" and len(words) >= 3:
            return await self.click(person, words[1], words[2], _form_values(words[3:]))
        self.out.write("[console] Use !edit <ref> <text>, !delete <ref> or !click <ref> <button> [field=value ...]\n")
        return None

    async def click(
        self, person: Person, ref: str, label: str, values: dict[str, str | list[str]] | None = None
    ) -> Reply | None:
        msg = next((m for m in self.messages if m.ref == ref), None)
        action = next((a for a in (msg.actions if msg else []) if a.label.lower().startswith(label.lower())), None)
        if msg is None or action is None:
            self.out.write(f"[console] There's no button '{label}' on {ref}.\n")
            return None
        return await self.send(ActionSubmitted(channel=self.channel, person=person, session_id=msg.session_id,
                                               action=action.id, value=action.value, values=values or {},
                                               private=msg.where == f"private:{person.id}"))


def _form_values(words: list[str]) -> dict[str, str | list[str]]:
    """`ideas=i3,i5 reason=because` -> {"ideas": ["i3", "i5"], "reason": "because"}."""
    values: dict[str, str | list[str]] = {}
    for word in words:
        key, _, value = word.partition("=")
        values[key] = value.split(",") if "," in value else value
    return values


def _lines_of(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines typed, read by a daemon thread: a thread blocked on the terminal must not keep Ctrl-C from
    stopping the process (the default executor's threads are waited for at exit; a daemon thread is not)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)  # Ctrl-D

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return queue
