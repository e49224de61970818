"""One module per phase kind; RULES maps a structure's phase kinds to their rules."""

from facilitation.phases.arrange import Arrange
from facilitation.phases.base import PhaseRules
from facilitation.phases.explain import Explain
from facilitation.phases.merge import Merge
from facilitation.phases.own import Own
from facilitation.phases.pair import Pair
from facilitation.phases.rank import Rank
from facilitation.phases.reflect import Reflect
from facilitation.phases.report import Report
from facilitation.phases.score import Score

RULES: dict[str, PhaseRules] = {
    r.kind: r for r in (Own(), Pair(), Merge(), Score(), Explain(), Rank(), Report(), Arrange(), Reflect())
}
