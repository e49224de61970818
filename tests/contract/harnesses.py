"""Every platform's harness factory; the contract suite runs once per entry."""

from tests.contract.console_harness import make_console_harness

HARNESSES = {
    "console": make_console_harness,
}
