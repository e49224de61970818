"""Every error the bot raises on purpose, as one tree (in the manner of httpx's `_exceptions.py`).

    FacilitatorError            the root: `except FacilitatorError` catches all of these and nothing else
    ├── Fixable                 someone in the chat can put it right; `key` names a sentence in
    │   │                       config/messages and `values` fill it in, rendered in the session's language
    │   ├── BallotError         a ballot the voter must change            (facilitation/voting.py)
    │   ├── ThemeEditError      a theme edit that does not apply          (facilitation/themes.py)
    │   └── CommandError        a command or start form to correct        (bot/commands.py)
    ├── DeliveryError           a platform call failed, or fell back      (adapters/base.py); the adapter has
    │                           already rendered `message` from config/messages, since only it knows the cause
    └── SetupError              the operator must fix a file or setting; the message (for the terminal and
        │                       the log, in English) names the file and what is wrong
        ├── ConfigError         config/ files                             (bot/configuration.py)
        ├── ScenarioError       a `facilitator simulate` scenario         (bot/simulate.py)
        ├── ManifestError       the Slack manifest                        (bot/slack_manifest.py)
        └── StartRefused        a platform refused to connect (token, intent) (adapters/base.py)

The engine raises only `Fixable` errors, which live here; the others are defined where they are raised.
"""

from __future__ import annotations

from collections.abc import Callable


class FacilitatorError(Exception):
    """The root of the bot's own errors."""


class Fixable(FacilitatorError, ValueError):
    """A person in the chat can fix this: the sentence `key` of config/messages, with `values` filled in."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def text(self, say: Callable[..., str]) -> str:
        """The sentence in the words of `say` (an `EngineConfig.say`, so in the session's language)."""
        return say(self.key, **self.values)

    def __str__(self) -> str:  # for logs: the key and its values, never a sentence in one language
        return f"{self.key} {self.values}" if self.values else self.key


class SetupError(FacilitatorError, ValueError):
    """A file or setting the operator must fix (never a participant): the message says which and how."""


class BallotError(Fixable):
    """A ballot the voter must change."""


class ThemeEditError(Fixable):
    """A theme edit (merge, split, rename, move) that does not apply to the themes as they are."""
