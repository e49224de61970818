"""The Slack adapter: the Web API client and adapter, the slack-bolt app, and token redaction for logs."""

from __future__ import annotations

import logging
import re

from adapters.slack.adapter import SlackAdapter, make_client
from adapters.slack.app import StartDefaults, build_app
from adapters.slack.throttle import ChannelThrottle

__all__ = ["ChannelThrottle", "SlackAdapter", "StartDefaults", "build_app", "make_client", "redact_tokens"]

log = logging.getLogger("facilitator.slack")

_TOKEN = re.compile(r"\b(xox[a-z]-|xapp-)[A-Za-z0-9-]+")


_installed = False


def redact_tokens() -> None:
    """Slack tokens never reach a log line, whatever any library logs: every record is scrubbed as it is made."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def scrubbed(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return record
        if _TOKEN.search(message):
            record.msg, record.args = _TOKEN.sub(r"\1[redacted]", message), None
        return record

    logging.setLogRecordFactory(scrubbed)
    _installed = True
