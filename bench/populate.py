"""Fill a gallery with synthetic unit vectors through the gallery layer, in big transactions.

The vectors go into the gallery's SQLite store exactly as enrolled ones do; the service derives its index
from them at start-up (exact or ANN, by its own settings), which is what the start-up scenario times.

Two layouts: `identities` (default), where each synthetic identity's references lie around a centre of its
own as a real encoder's do (cosine `IDENTITY_COSINE` to the centre); and `uniform`, independent random
directions with no structure at all: the worst case for any ANN index, since in 128 dimensions every
stored vector is then about equally far from a query.
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
LAYOUTS = ("identities", "uniform")
IDENTITY_COSINE = 0.8  # a reference to its identity's centre: two references of one identity at ~0.64


def unit_vectors(count: int, dim: int, *, rng: np.random.Generator) -> np.ndarray:
    """`count` random directions: Gaussian rows scaled to unit length, float32."""
    x = rng.standard_normal((count, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def around(anchors: np.ndarray, *, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """One unit vector per (unit) anchor row at exactly `cosine` from it, in a random direction."""
    if not 0 < cosine <= 1:
        raise ValueError(f"need 0 < cosine <= 1, got {cosine}")
    noise = rng.standard_normal(anchors.shape, dtype=np.float32)
    noise -= (noise * anchors).sum(axis=1, keepdims=True) * anchors  # orthogonal to its anchor
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (cosine * anchors + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def synthetic_vectors(
    count: int, dim: int, *, per_identity: int, layout: str, rng: np.random.Generator
) -> np.ndarray:
    """`count` unit rows in `layout`; with "identities", rows i*per_identity.. share one centre."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "uniform":
        return unit_vectors(count, dim, rng=rng)
    centres = np.repeat(unit_vectors(-(-count // per_identity), dim, rng=rng), per_identity, axis=0)[:count]
    return around(centres, cosine=IDENTITY_COSINE, rng=rng)


def fake_sha256s(start: int, count: int) -> tuple[str, ...]:
    """Distinct well-formed image hashes for synthetic references (there are no image files)."""
    return tuple(hashlib.sha256(f"synthetic-{i}".encode()).hexdigest() for i in range(start, start + count))


def synthetic_entries(
    size: int, dim: int, *, refs_per_identity: int, seed: int, layout: str = "identities", chunk: int = CHUNK
) -> Iterator[list[Enrollment]]:
    """Chunks of enrollments adding up to `size` references, `refs_per_identity` per synthetic identity."""
    if size < 0 or refs_per_identity < 1:
        raise ValueError("need size >= 0 and refs_per_identity >= 1")
    rng = np.random.default_rng(seed)
    n = refs_per_identity
    step = max(n, chunk - chunk % n)
    for start in range(0, size, step):
        vectors = synthetic_vectors(min(step, size - start), dim, per_identity=n, layout=layout, rng=rng)
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
    layout: str = "identities",
    seed: int = 0,
) -> float:
    """Create `gallery` bound to the model and add `size` synthetic references; returns seconds taken."""
    started = time.perf_counter()
    registry = GalleryRegistry(Path(data_dir), snapshots=False)
    registry.open()
    try:
        target = registry.create(gallery, model=model, model_sha256=card.onnx_sha256, dim=card.embedding_dim)
        for entries in synthetic_entries(
            size, card.embedding_dim, refs_per_identity=refs_per_identity, seed=seed, layout=layout
        ):
            target.add_many(entries)
    finally:
        registry.close()
    return time.perf_counter() - started
