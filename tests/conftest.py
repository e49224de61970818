"""Suite-wide: the same grouping everywhere, whether or not this machine has the optional embedding model."""

import os

os.environ.setdefault("FACILITATOR_GROUPING", "lexical")
