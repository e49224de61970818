"""Every platform's harness factory; the contract suite runs once per entry."""

from tests.contract.console_harness import make_console_harness
from tests.contract.discord_harness import make_discord_harness
from tests.contract.slack_harness import make_slack_harness

HARNESSES = {
    "console": make_console_harness,
    "discord": make_discord_harness,
    "slack": make_slack_harness,
}
