"""The Slack adapter: the runtime's outbound calls as Slack Web API calls, and inbound hand-off.

Refs: a message is `"<channel id>:<ts>"` (ts is only unique within a channel); a pair space is the
group DM's channel id. Private posts go to the person's DM with the bot, posted to their user id (Slack puts a
post to a user id in the app's DM with them, so 60 people joining cost no conversations.open, Tier 3's ~50/min;
the DM's id comes back with the first post and is kept): unlike chat.postEphemeral they stay after a reload, their
buttons keep working, and each DM is its own channel for the 1 msg/s limit. Ephemeral messages are kept for
immediate replies to the sender.

A post that fails ambiguously (a 5xx, or no answer) may have been stored: the SDK is told not to retry
chat.postMessage then; the adapter looks for the post by a nonce in its metadata and re-posts only if
it is not there.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.base import DELIVERING, STORED, DeliveryError, Inbound, Part, Reply, Sink, StartRefused, Target, may_go_on
from adapters.formbook import FormBook
from adapters.slack import render
from adapters.slack.checks import token_problem
from adapters.slack.throttle import ChannelThrottle
from adapters.words import Say, speaker
from facilitation.effects import Action, Form, Person
from facilitation.note import note_file_stem

log = logging.getLogger("facilitator.slack")

NOTE_DRAFT_EVENT = "opera_note_draft"
NOTE_PUBLISHED_EVENT = "opera_note_published"
NAME_RETRY_SECONDS = 60.0
POST_EVENT = "opera_post"  # the metadata event type of posts that carry no other metadata

# Slack wants every request answered within 3 s; input not stored by then is acknowledged anyway (and still
# handed on), leaving room for the answer to travel.
ACK_SECONDS = 2.5

# Looking for a post that failed ambiguously: from this long before the first attempt (clock skew between
# us and Slack), at most this many pages of this many messages.
_LOOKUP_MARGIN = 60.0
_LOOKUP_PAGES = 3
_LOOKUP_LIMIT = 100
# No answer at all: the request may or may not have reached Slack.
_NO_ANSWER = (aiohttp.ClientError, asyncio.TimeoutError)

# Slack errors a facilitator can fix: each has a sentence in config/messages (slack_<error>) they can act on.
_FIXABLE = frozenset({"not_in_channel", "channel_not_found", "missing_scope", "cannot_dm_bot", "user_not_found",
                      "is_archived"})


def _is_post(request: HttpRequest) -> bool:
    return request.url.rstrip("/").endswith("chat.postMessage")


class _ConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    """Retries dropped connections, except for chat.postMessage: Slack may have stored the post already."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return not _is_post(request) and await super()._can_retry_async(
            state=state, request=request, response=response, error=error)


class _ServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Retries 500/503s, except for chat.postMessage: Slack may have stored the post before failing."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return not _is_post(request) and await super()._can_retry_async(
            state=state, request=request, response=response, error=error)


class _RateLimitErrorRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429's Retry-After, then goes again only if the post is still this process's to send."""

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        await super().prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)
        may_go_on()


def make_client(token: str, base_url: str, max_429_retries: int = 3) -> AsyncWebClient:
    """A Web API client that retries 429s (Retry-After) for every method, and 500/503s and dropped
    connections for every method but chat.postMessage (SlackAdapter.post_message checks before re-posting)."""
    handlers: list[AsyncRetryHandler] = [
        _ConnectionErrorRetryHandler(),
        _RateLimitErrorRetryHandler(max_retry_count=max_429_retries),
        _ServerErrorRetryHandler(),
    ]
    return AsyncWebClient(token=token, base_url=base_url, retry_handlers=handlers)


def message_ref(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def split_ref(ref: str) -> tuple[str, str | None]:
    channel, _, ts = ref.partition(":")
    return channel, ts or None


class SlackAdapter:
    name = "slack"
    finds_earlier_posts = True  # by the nonce in a post's metadata (see bot/delivery.py)

    def __init__(self, client: AsyncWebClient, throttle: ChannelThrottle | None = None,
                 extra_429_rounds: int = 10, forms: FormBook | None = None,
                 post_attempts: int = 3, repost_backoff: float = 0.5, ack_seconds: float = ACK_SECONDS,
                 messages: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.say = speaker(messages)  # what the adapter says itself: the start modal, Slack's refusals
        self.throttle = throttle or ChannelThrottle()
        self.extra_429_rounds = extra_429_rounds
        # A post that failed ambiguously and is not found is sent again, up to `post_attempts` in all,
        # waiting repost_backoff, then twice that, ... before each look.
        self.post_attempts = post_attempts
        self.repost_backoff = repost_backoff
        self._sink: Sink | None = None
        self._dms: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._looking: dict[str, asyncio.Future[str | None]] = {}  # users.info calls in flight, by person
        self._unnamed: dict[str, float] = {}  # person -> until when a failed look-up is not repeated
        # Forms too large to travel in a button's value, by message ref and action id.
        self.forms = forms or FormBook()
        self.inflight = 0
        self.ack_seconds = ack_seconds
        self._work: set[asyncio.Task[None]] = set()  # payloads being handled after Slack was acknowledged
        self._listening: tuple[AsyncApp, int | None, str | None] | None = None
        self._stop_listening: Callable[[], Awaitable[object]] | None = None
        self._closed = asyncio.Event()
        self._checked = False

    # --- lifecycle ----------------------------------------------------------------------------

    def bind(self, sink: Sink) -> None:
        self._sink = sink

    def listen(self, app: AsyncApp, *, port: int | None = None, app_token: str | None = None) -> None:
        """Serve `app` once started: over HTTP on `port`, or through Socket Mode with `app_token`."""
        self._listening = (app, port, app_token)

    async def check(self) -> None:
        """The bot token (and the Socket Mode token, when listening through it) are accepted by Slack."""
        if self._listening is not None and not self._checked:
            problem = await token_problem(self.client, self._listening[2])
            if problem:
                raise StartRefused(problem)
            self._checked = True

    async def start(self) -> None:
        """Open the saved forms, and start listening if asked to."""
        if self._stop_listening is not None:
            return
        await self.check()
        await self.forms.open()
        if self._listening is None:
            return
        app, port, app_token = self._listening
        if port is not None:
            runner = web.AppRunner(app.web_app(path="/slack/events"))
            await runner.setup()
            self._stop_listening = runner.cleanup
            await web.TCPSite(runner, port=port).start()
            log.info("Slack HTTP mode: listening on port %d at /slack/events", port)
        else:
            assert app_token is not None
            handler = AsyncSocketModeHandler(app, app_token)
            self._stop_listening = handler.close_async
            log.info("Slack Socket Mode: connecting")
            await handler.connect_async()
            log.info("Slack Socket Mode: connected")

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        try:
            if self._stop_listening is not None:
                stop, self._stop_listening = self._stop_listening, None
                await stop()
        finally:
            self._closed.set()
            await self.forms.close()

    @property
    def idle(self) -> bool:
        return self.inflight == 0 and not self.throttle.busy

    async def receive(self, inbound: Inbound) -> Reply | None:
        """Hand an inbound message to the runtime (listeners call this after they have acked)."""
        if self._sink is None:
            raise RuntimeError("SlackAdapter.bind() was not called")
        self.inflight += 1
        try:
            return await self._sink(inbound)
        finally:
            self.inflight -= 1

    async def hand_over(self, work: Callable[[], Awaitable[None]],
                        ack: Callable[[], Awaitable[object]] | None = None) -> None:
        """Run `work` (one payload handed to the runtime, then any answer to the person) in the background, and
        acknowledge Slack (`ack`; for events, returning) once the runtime has stored what it was handed, or found
        nothing to store: input is never acknowledged and then lost. Storing that takes longer than
        `ack_seconds` is acknowledged anyway, inside Slack's 3 s, and the work carries on."""
        stored = asyncio.Event()

        async def run() -> None:
            STORED.set(stored)  # this task's own context: the runtime marks it after its commit
            try:
                await work()
            except Exception:
                log.exception("a Slack payload could not be handled")
            finally:
                stored.set()
                self.inflight -= 1

        self.inflight += 1
        task = asyncio.create_task(run())
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        try:
            await asyncio.wait_for(stored.wait(), self.ack_seconds)
        except TimeoutError:
            log.warning("not stored within %.1f s; acknowledging Slack anyway", self.ack_seconds)
        if ack is not None:
            await ack()

    # --- Web API calls ------------------------------------------------------------------------

    async def call(self, method: str, **params: Any) -> AsyncSlackResponse:
        """One Web API call; Slack's refusals become DeliveryErrors."""
        try:
            return await self._call_past_429s(method, **params)
        except SlackApiError as exc:
            raise _delivery_error(exc, self.say) from exc

    async def _call_past_429s(self, method: str, **params: Any) -> AsyncSlackResponse:
        """One Web API call (`chat.postMessage`, or a client helper such as `files_upload_v2`); 429s the SDK's
        handler gave up on are waited out here too, for Retry-After (a 429 means nothing was posted, so repeating
        the call cannot post twice). The adapter's one 429 loop."""
        for attempt in range(self.extra_429_rounds + 1):
            may_go_on()  # after the channel's throttle or a Retry-After: still this process's to send?
            try:
                return await getattr(self.client, method.replace(".", "_"))(**params)
            except SlackApiError as exc:
                if exc.response.status_code != 429 or attempt == self.extra_429_rounds:
                    raise
                wait = _retry_after(exc.response.headers)
                log.warning("%s still rate limited; waiting %.0f s", method, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def post_message(self, channel: str, **params: Any) -> str:
        """chat.postMessage through the channel's throttle; returns the message ref. The post carries a
        nonce in its metadata, so a post that failed ambiguously can be found instead of sent twice."""
        params.setdefault("unfurl_links", False)
        params.setdefault("unfurl_media", False)
        # The same nonce on every attempt at one effect, before and after a restart (a random one otherwise).
        doing = DELIVERING.get()
        nonce = doing.nonce(size=16) if doing else secrets.token_hex(8)
        params["metadata"] = _with_nonce(params.get("metadata"), nonce)
        return await self.throttle.run(channel, lambda: self._post_without_doubles(channel, nonce, params))

    async def _post_without_doubles(self, channel: str, nonce: str, params: dict[str, Any]) -> str:
        """Post; after a 5xx or no answer, look for the post and send it again only if it is not there.
        Runs in the channel's turn, so the posts after it wait and the channel's order is kept. An effect
        that may have been posted before (the process stopped, or an earlier attempt failed) is looked for
        first."""
        doing = DELIVERING.get()
        if doing is not None and doing.maybe_sent:
            since = doing.since - _LOOKUP_MARGIN
            found = await self._find_post(channel, params.get("thread_ts"), nonce, since)
            if found is not None:
                return found
        since = time.time() - _LOOKUP_MARGIN
        failure: Exception | None = None
        for attempt in range(self.post_attempts):
            outcome = await self._attempt_post(channel, params)
            if isinstance(outcome, str):
                return outcome
            failure = outcome
            log.warning("chat.postMessage to %s failed (%s); looking for it", channel, _describe(failure))
            await asyncio.sleep(self.repost_backoff * 2**attempt)
            found = await self._find_post(channel, params.get("thread_ts"), nonce, since)
            if found is not None:
                return found
        log.error("chat.postMessage to %s failed %d times; giving up", channel, self.post_attempts)
        if isinstance(failure, SlackApiError):
            raise _delivery_error(failure, self.say) from failure
        message = self.say("slack_no_answer", why=_describe(failure))
        raise DeliveryError(message, lasting=False) from failure

    async def _attempt_post(self, channel: str, params: dict[str, Any]) -> str | Exception:
        """One chat.postMessage: the ref, or the failure when Slack may have stored the post all the same
        (a 5xx, or no answer). Any other refusal is certain, and raised as a DeliveryError."""
        try:
            response = await self._call_past_429s(
                "chat.postMessage", channel=channel, link_names=False, parse="none", **params)
        except SlackApiError as exc:
            if exc.response.status_code < 500:
                raise _delivery_error(exc, self.say) from exc
            return exc
        except _NO_ANSWER as exc:
            return exc
        return message_ref(response["channel"], response["ts"])

    async def _find_post(self, channel: str, thread_ts: str | None, nonce: str, since: float) -> str | None:
        """The ref of the post carrying `nonce`, if Slack stored it; None if not found or the look failed
        (then the caller posts again: a doubled message is better than a lost one)."""
        method, params = ("conversations.replies", {"ts": thread_ts}) if thread_ts else ("conversations.history", {})
        cursor: str | None = None
        try:
            if channel[:1] in ("U", "W"):  # posted to a user id: the history is the DM's (opened only for this look)
                channel = await self.dm_channel(channel)
            for _ in range(_LOOKUP_PAGES):
                page = await self.call(method, channel=channel, oldest=f"{since:.6f}", limit=_LOOKUP_LIMIT,
                                       include_all_metadata=True, cursor=cursor, **params)
                ts = next((m["ts"] for m in page.get("messages") or [] if _nonce_of(m) == nonce), None)
                if ts is not None:
                    log.info("the post to %s had been stored after all (%s)", channel, ts)
                    return message_ref(channel, ts)
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if cursor is None:
                    return None
        except (DeliveryError, *_NO_ANSWER) as exc:
            log.warning("could not look for a failed post in %s (%s); posting again", channel, _describe(exc))
        return None

    async def dm_channel(self, person: str) -> str:
        if person not in self._dms:
            response = await self.call("conversations.open", users=[person])
            self._dms[person] = response["channel"]["id"]
        return self._dms[person]

    async def is_bot_dm(self, channel: str, person: str) -> bool:
        """Whether `channel` is the person's own DM with the bot (not a channel, a group DM or a DM between
        two people, where a command must not reach the person's session elsewhere)."""
        if not channel.startswith("D"):
            return False
        try:
            return channel == await self.dm_channel(person)
        except DeliveryError:
            return False

    async def person(self, user_id: str, hint: str | None = None) -> Person:
        """The person with a display name (users.info, cached; the id if Slack won't say). Concurrent requests
        for the same person share one call, and a failed look-up is not repeated for NAME_RETRY_SECONDS, so a
        burst of 60 people joining costs 60 calls, not a multiple of it and a wave of 429s."""
        name = self._names.get(user_id)
        if name is None and self._unnamed.get(user_id, 0.0) < time.monotonic():
            looking = self._looking.get(user_id)
            if looking is None:
                looking = self._looking[user_id] = asyncio.ensure_future(self._look_up(user_id))
                looking.add_done_callback(lambda _: self._looking.pop(user_id, None))
            name = await asyncio.shield(looking)
        return Person(id=user_id, name=name or hint or user_id)

    async def _look_up(self, user_id: str) -> str | None:
        try:
            user = (await self.call("users.info", user=user_id))["user"]
        except DeliveryError:
            self._unnamed[user_id] = time.monotonic() + NAME_RETRY_SECONDS
            return None
        profile = user.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                or user.get("name") or None)
        if name:
            self._names[user_id] = name
        return name

    async def remember_form(self, ref: str, actions: list[Action]) -> None:
        for action in actions:
            if action.form is not None and render.unpack_button_value(render.pack_button_value(action))[1] is None:
                await self.forms.put(ref, action.id, action.form)

    async def form_for(self, channel: str, ts: str, action_id: str) -> Form | None:
        return await self.forms.get(message_ref(channel, ts), action_id)

    # --- the Adapter protocol -----------------------------------------------------------------

    async def post(self, channel: str, target: Target, text: str, actions: list[Action], session_id: str) -> str:
        where, params = await self._place(channel, target)
        body = render.mrkdwn(text)
        ref = await self.post_message(where, text=render.fallback_text(body),
                                      blocks=render.message_blocks(body, actions, session_id), **params)
        if target.kind == "private" and target.ref and ref.startswith("D"):
            self._dms.setdefault(target.ref, split_ref(ref)[0])
        await self.remember_form(ref, actions)
        return ref

    def parts_fit(self, parts: list[Part]) -> int:
        return render.parts_fit([(render.mrkdwn(p.text), p.actions) for p in parts])

    async def post_parts(self, channel: str, target: Target, parts: list[Part], session_id: str) -> str:
        """Several posts as one message (30 proposals in one or two messages, not 30 s at 1 post/s per channel)."""
        where, params = await self._place(channel, target)
        bodies = [(render.mrkdwn(p.text), p.actions) for p in parts]
        ref = await self.post_message(where, text=render.fallback_text("\n\n".join(b for b, _ in bodies)),
                                      blocks=render.parts_blocks(bodies, session_id), **params)
        for part in parts:
            await self.remember_form(ref, part.actions)
        return ref

    async def _place(self, channel: str, target: Target) -> tuple[str, dict[str, Any]]:
        """The conversation a target is in, and the thread's ts for a thread."""
        if target.kind == "thread" and target.ref:
            where, thread_ts = split_ref(target.ref)
            return where, {"thread_ts": thread_ts}
        if target.kind == "private" and target.ref:
            return self._dms.get(target.ref, target.ref), {}  # a user id until the first post says the DM's id
        if target.kind == "pair" and target.ref:
            return split_ref(target.ref)[0], {}
        return channel, {}

    async def open_pair_space(self, channel: str, pair_id: str, title: str, members: list[Person],
                              session_id: str) -> str:
        """A group DM of the members and the bot (conversations.open, Tier 3): private to the pair, and a
        channel of its own, so 30 pairs' intros don't queue behind each other at 1 msg/s."""
        response = await self.call("conversations.open", users=[m.id for m in members])
        return response["channel"]["id"]

    async def deliver_note(self, channel: str, convenor: Person, title: str, markdown: str, json_text: str,
                           actions: list[Action], session_id: str, html: str | None = None) -> str:
        dm = await self.dm_channel(convenor.id)
        body = render.note_mrkdwn(markdown)
        ref = await self.post_message(
            dm, text=render.fallback_text(body), blocks=render.message_blocks(body, actions, session_id),
            metadata={"event_type": NOTE_DRAFT_EVENT, "event_payload": {"session": session_id}},
        )
        await self.remember_form(ref, actions)
        stem = note_file_stem(title)
        await self.throttle.run(dm, lambda: self.upload_files(dm, [
            (f"{stem}.md", markdown, f"{title} (Markdown)"),
            (f"{stem}.json", json_text, f"{title} (JSON)"),
            *([(f"{stem}.html", html, f"{title} (web page)")] if html is not None else []),
        ]))
        return ref

    async def post_image(self, channel: str, target: Target, filename: str, data: bytes, title: str, alt: str,
                         session_id: str) -> str:
        where, thread_ts = channel, None
        if target.kind == "thread" and target.ref:
            where, thread_ts = split_ref(target.ref)
        await self.throttle.run(where, lambda: self.upload_files(where, [(filename, data, alt)], thread_ts=thread_ts))
        return f"{where}:file:{filename}"

    async def upload_files(self, channel: str, files: list[tuple[str, str | bytes, str]],
                           thread_ts: str | None = None) -> None:
        """files_upload_v2: files.getUploadURLExternal, the upload itself, files.completeUploadExternal."""
        uploads = [{"filename": name, "content": content, "title": label} for name, content, label in files]
        where: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        await self.call("files_upload_v2", file_uploads=uploads, channel=channel, **where)

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        body = render.note_mrkdwn(markdown)
        return await self.post_message(
            channel, text=render.fallback_text(body), blocks=render.message_blocks(body, [], session_id),
            metadata={"event_type": NOTE_PUBLISHED_EVENT, "event_payload": {"session": session_id}},
        )

    # --- replies shown only to the sender ----------------------------------------------------

    async def tell(self, person: str, channel: str, text: str, thread_ts: str | None = None) -> None:
        """An immediate answer to one person: ephemeral where others are present, a plain message in their DM."""
        body = render.mrkdwn(text)
        try:
            if channel.startswith("D"):
                await self.post_message(channel, text=render.fallback_text(body),
                                        blocks=render.message_blocks(body, [], ""))
                return
            params: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
            await self.call("chat.postEphemeral", channel=channel, user=person, text=render.fallback_text(body),
                            blocks=render.message_blocks(body, [], ""), **params)
        except DeliveryError:
            log.warning("could not answer %s in %s", person, channel)


def _with_nonce(metadata: dict[str, Any] | None, nonce: str) -> dict[str, Any]:
    """The post's metadata (its own event type and payload, if any) with the nonce added to the payload."""
    metadata = metadata or {"event_type": POST_EVENT, "event_payload": {}}
    return {**metadata, "event_payload": {**metadata.get("event_payload", {}), "post": nonce}}


def _nonce_of(message: dict[str, Any]) -> str | None:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    return payload.get("post") if isinstance(payload, dict) else None


def _describe(exc: Exception | None) -> str:
    """A failure in a few words for a log line (never the response body: it may echo the post)."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, DeliveryError):
        return exc.message
    return type(exc).__name__ if exc is not None else "?"


def _delivery_error(exc: SlackApiError, say: Say) -> DeliveryError:
    data = exc.response.data if exc.response is not None and isinstance(exc.response.data, dict) else {}
    code = str(data.get("error") or f"HTTP {exc.response.status_code if exc.response is not None else '?'}")
    message = say(f"slack_{code}", needed=data.get("needed", "?")) if code in _FIXABLE else say("slack_refused",
                                                                                                 code=code)
    status = exc.response.status_code if exc.response is not None else 0
    return DeliveryError(message, lasting=status != 429 and status < 500)


def _retry_after(headers: Any) -> float:
    value = next((v for k, v in dict(headers or {}).items() if k.lower() == "retry-after"), "1")
    value = value[0] if isinstance(value, list) else value
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 1.0
