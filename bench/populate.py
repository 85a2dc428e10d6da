"""Fill a gallery with synthetic unit vectors through the gallery layer, in big transactions.

The vectors go into the gallery's SQLite store exactly as enrolled ones do; the service derives its index
from them at start-up (exact or ANN, by its own settings), which is what the start-up scenario times.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gallery.registry import GalleryRegistry
from gallery.types import Enrollment
from modelcard import ModelCard

CHUNK = 50_000


def unit_vectors(count: int, dim: int, *, rng: np.random.Generator) -> np.ndarray:
    """`count` random directions: Gaussian rows scaled to unit length, float32."""
    x = rng.standard_normal((count, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def fake_sha256s(start: int, count: int) -> tuple[str, ...]:
    """Distinct well-formed image hashes for synthetic references (there are no image files)."""
    return tuple(hashlib.sha256(f"synthetic-{i}".encode()).hexdigest() for i in range(start, start + count))


def synthetic_entries(
    size: int, dim: int, *, refs_per_identity: int, seed: int, chunk: int = CHUNK
) -> Iterator[list[Enrollment]]:
    """Chunks of enrollments adding up to `size` references, `refs_per_identity` per synthetic identity."""
    if size < 0 or refs_per_identity < 1:
        raise ValueError("need size >= 0 and refs_per_identity >= 1")
    rng = np.random.default_rng(seed)
    n = refs_per_identity
    step = max(n, chunk - chunk % n)
    for start in range(0, size, step):
        vectors = unit_vectors(min(step, size - start), dim, rng=rng)
        shas = fake_sha256s(start, len(vectors))
        yield [
            Enrollment(f"synthetic-{(start + i) // n:07d}", vectors[i : i + n], shas[i : i + n])
            for i in range(0, len(vectors), n)
        ]


def populate(
    data_dir: Path,
    *,
    gallery: str,
    model: str,
    card: ModelCard,
    size: int,
    refs_per_identity: int = 5,
    seed: int = 0,
) -> float:
    """Create `gallery` bound to the model and add `size` synthetic references; returns seconds taken."""
    started = time.perf_counter()
    registry = GalleryRegistry(Path(data_dir), snapshots=False)
    registry.open()
    try:
        target = registry.create(gallery, model=model, model_sha256=card.onnx_sha256, dim=card.embedding_dim)
        for entries in synthetic_entries(
            size, card.embedding_dim, refs_per_identity=refs_per_identity, seed=seed
        ):
            target.add_many(entries)
    finally:
        registry.close()
    return time.perf_counter() - started
