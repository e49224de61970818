"""Suite-wide: themes by word overlap everywhere, so tests that read themes do not depend on whether the
embedding model loads on this machine. tests/test_embeddings_model.py runs the model itself."""

import os

os.environ.setdefault("FACILITATOR_GROUPING", "lexical")
