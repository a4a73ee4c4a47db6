"""The embedding model behind the local Titan Text Embeddings V2: WordLlama, a stand-in.

`wordllama` (pinned in requirements-dev.in) ships its trained token embeddings
(`weights/l2_supercat_256.safetensors`, 256 dimensions, distilled from Llama 3's input embeddings)
and its tokenizer inside the wheel, so nothing is downloaded at run time: it is loaded with
downloads disabled, from the installed package's own directory (its loader looks for the tokenizer
under `tokenizer/` in the package but the wheel has it under `tokenizers/`; naming the package
directory as the cache directory finds both).

Titan answers in 256, 512 or 1024 dimensions. WordLlama's 256 are returned as they are for 256;
for 512 and 1024 they are multiplied by a fixed matrix with orthonormal columns (QR of a Gaussian
matrix from a fixed seed), which keeps every length and every inner product: cosine neighbours are
the same in every dimension, and the same text always gets the same vector.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

NATIVE_DIMENSIONS = 256
PROJECTION_SEED = 20240430  # Titan Text Embeddings V2's release date: any fixed seed would do
_lock = threading.Lock()


@functools.cache
def _model():
    import wordllama
    from wordllama import WordLlama

    package = Path(wordllama.__file__).parent
    return WordLlama.load(config="l2_supercat", dim=NATIVE_DIMENSIONS, cache_dir=package, disable_download=True)


def model():
    with _lock:  # one load per process, however many handler threads ask at once
        return _model()


@functools.cache
def projection(dimensions: int) -> np.ndarray | None:
    """(256, dimensions) with orthonormal rows, or None for 256 (no projection)."""
    if dimensions == NATIVE_DIMENSIONS:
        return None
    gaussian = np.random.default_rng(PROJECTION_SEED + dimensions).standard_normal((dimensions, NATIVE_DIMENSIONS))
    q, _ = np.linalg.qr(gaussian)  # (dimensions, 256), orthonormal columns
    return np.ascontiguousarray(q.T)


def token_count(text: str) -> int:
    return len(model().tokenizer.encode(text, add_special_tokens=False).ids)


def embed(text: str, dimensions: int, normalize: bool) -> np.ndarray:
    """The text's mean-pooled token embedding, projected to `dimensions`, unit length if `normalize`."""
    vector = np.asarray(model().embed([text], norm=False)[0], dtype=np.float64)
    matrix = projection(dimensions)
    if matrix is not None:
        vector = vector @ matrix
    if normalize:
        length = float(np.linalg.norm(vector))
        if length > 0:
            vector = vector / length
    return vector.astype(np.float32)
