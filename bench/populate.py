"""Fill a gallery with synthetic unit vectors through the gallery layer, in big transactions.

The vectors go into the gallery's SQLite store exactly as enrolled ones do; the service derives its index
from them at start-up (exact or ANN, by its own settings), which is what the start-up scenario times.

Three layouts. In `model` (default) and `identities`, each synthetic identity's references lie around a
centre of its own, as a real encoder's do (cosine `IDENTITY_COSINE` to the centre); `model` draws the centres
from a Gaussian fitted to real embeddings of the served model, so the synthetic references fill the same
region of the sphere as real ones, while `identities` spreads them over the whole sphere, leaving the real
references an island that an ANN graph can miss. `uniform` draws independent random directions with no
structure at all: the worst case for any ANN index, since in 128 dimensions every stored vector is then
about equally far from a query.
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
LAYOUTS = ("model", "identities", "uniform")
IDENTITY_COSINE = 0.8  # a reference to its identity's centre: two references of one identity at ~0.64
SHRINK = 0.2  # covariance shrinkage towards the identity: ~100 real embeddings cannot fill 128 dimensions


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


def fitted_directions(
    sample: np.ndarray, count: int, *, rng: np.random.Generator, shrink: float = SHRINK
) -> np.ndarray:
    """`count` unit rows drawn from a Gaussian fitted to `sample` (rows of real embeddings): their mean and
    covariance, the covariance shrunk by `shrink` towards a multiple of the identity."""
    if sample.ndim != 2 or len(sample) < 2:
        raise ValueError("need at least two sample embeddings to fit a distribution")
    dim = sample.shape[1]
    centred = sample - sample.mean(axis=0)
    cov = centred.T @ centred / (len(sample) - 1)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / dim * np.eye(dim)
    x = sample.mean(axis=0) + rng.standard_normal((count, dim)) @ np.linalg.cholesky(cov).T
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_vectors(
    count: int,
    dim: int,
    *,
    per_identity: int,
    layout: str,
    rng: np.random.Generator,
    sample: np.ndarray | None = None,
) -> np.ndarray:
    """`count` unit rows in `layout`; except for "uniform", rows i*per_identity.. share one centre. The
    "model" layout needs `sample`, real embeddings of the served model."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "uniform":
        return unit_vectors(count, dim, rng=rng)
    identities = -(-count // per_identity)
    if layout == "model":
        if sample is None:
            raise ValueError("the model layout needs sample embeddings of the model")
        centres = fitted_directions(sample, identities, rng=rng)
    else:
        centres = unit_vectors(identities, dim, rng=rng)
    return around(np.repeat(centres, per_identity, axis=0)[:count], cosine=IDENTITY_COSINE, rng=rng)


def fake_sha256s(start: int, count: int) -> tuple[str, ...]:
    """Distinct well-formed image hashes for synthetic references (there are no image files)."""
    return tuple(hashlib.sha256(f"synthetic-{i}".encode()).hexdigest() for i in range(start, start + count))


def synthetic_entries(
    size: int,
    dim: int,
    *,
    refs_per_identity: int,
    seed: int,
    layout: str = "identities",
    sample: np.ndarray | None = None,
    chunk: int = CHUNK,
) -> Iterator[list[Enrollment]]:
    """Chunks of enrollments adding up to `size` references, `refs_per_identity` per synthetic identity."""
    if size < 0 or refs_per_identity < 1:
        raise ValueError("need size >= 0 and refs_per_identity >= 1")
    rng = np.random.default_rng(seed)
    n = refs_per_identity
    step = max(n, chunk - chunk % n)
    for start in range(0, size, step):
        count = min(step, size - start)
        vectors = synthetic_vectors(count, dim, per_identity=n, layout=layout, rng=rng, sample=sample)
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
    sample: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Create `gallery` bound to the model and add `size` synthetic references; returns seconds taken."""
    started = time.perf_counter()
    registry = GalleryRegistry(Path(data_dir), snapshots=False)
    registry.open()
    try:
        target = registry.create(gallery, model=model, model_sha256=card.onnx_sha256, dim=card.embedding_dim)
        for entries in synthetic_entries(
            size,
            card.embedding_dim,
            refs_per_identity=refs_per_identity,
            seed=seed,
            layout=layout,
            sample=sample,
        ):
            target.add_many(entries)
    finally:
        registry.close()
    return time.perf_counter() - started
