"""One module per phase kind; RULES maps a structure's phase kinds to their rules."""

from facilitation.phases.arrange import Arrange
from facilitation.phases.base import PhaseRules
from facilitation.phases.explain import Explain
from facilitation.phases.own import Own
from facilitation.phases.pair import Pair
from facilitation.phases.rank import Rank

RULES: dict[str, PhaseRules] = {r.kind: r for r in (Own(), Pair(), Explain(), Rank(), Arrange())}
