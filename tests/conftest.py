"""Suite-wide: themes by word overlap everywhere, so tests that read themes do not depend on whether the
embedding model loads on this machine. tests/test_embeddings_model.py runs the model itself.

`end` sends the note at once (no wait for the empty chair), so tests written before that wait end in one
step; tests/engine/test_note_shape.py turns the wait on and tests it."""

import os

os.environ.setdefault("FACILITATOR_GROUPING", "lexical")
os.environ.setdefault("FACILITATOR_SESSION__EMPTY_CHAIR_SECONDS", "0")
