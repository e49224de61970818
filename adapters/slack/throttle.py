"""A per-channel outbound queue: about one message a second per channel, short bursts allowed.

Slack's chat.postMessage limit is "1 per second per channel, short bursts >1 allowed"; slack_sdk only
reacts to 429s after the fact. Each channel gets a token bucket behind a lock: posts to one channel
go out in order and no faster than the rate, while different channels (pair spaces, DMs) proceed in
parallel. The lock is held while a call retries a 429, so a channel Slack has told to slow down pauses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class _Bucket:
    tokens: float
    updated: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class ChannelThrottle:
    def __init__(
        self,
        per_second: float = 1.0,
        burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.enabled = enabled
        self._buckets: dict[str, _Bucket] = {}
        self.waited = 0.0  # total seconds spent waiting for a slot, for the bench

    def _bucket(self, channel: str) -> _Bucket:
        if channel not in self._buckets:
            self._buckets[channel] = _Bucket(tokens=float(self.burst), updated=self.clock())
        return self._buckets[channel]

    @property
    def busy(self) -> bool:
        return any(b.waiting or b.lock.locked() for b in self._buckets.values())

    async def run(self, channel: str, call: Callable[[], Awaitable[T]]) -> T:
        """Wait for the channel's turn, then make the call while still holding it."""
        if not self.enabled:
            return await call()
        bucket = self._bucket(channel)
        bucket.waiting += 1
        try:
            async with bucket.lock:
                now = self.clock()
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
                bucket.updated = now
                if bucket.tokens < 1:
                    delay = (1 - bucket.tokens) / self.per_second
                    self.waited += delay
                    await asyncio.sleep(delay)
                    bucket.tokens, bucket.updated = 1.0, self.clock()
                bucket.tokens -= 1
                return await call()
        finally:
            bucket.waiting -= 1
