"""Enroll, identify and verify: open the gallery, check the batcher has room, and decode off the loop (one
thread hop), embed in the batcher (whose postprocess thread also runs identify's gallery search, batched),
then store.

Every image of a request is decoded and embedded before anything is stored, so a bad input never leaves a
partial write. Distances are the card's metric: L2 between unit embeddings, in [0, 2]; an identity's
distance is its nearest reference's.

The identify request path, stage by stage (the thread each runs on in brackets):

1. route [loop]: `app.hotpath.IdentifyHotPath` reads a plain form itself (`app.plainform`), anything else
   goes to `app.routes.identify.identify_image` (FastAPI, `app.strictform`); both call `identify` below.
2. gallery and model [decode pool, `on_decode_pool`]: `_open_and_prepare` -> `Runtime.open_gallery` (404
   gallery_not_found, 503 gallery_unavailable / model_unavailable, 409 model_mismatch).
3. admission [decode pool]: `_prepare` -> `Batcher.admit`, before any decoding (429 overloaded).
4. decode [decode pool]: `app.imaging.prepare_images`: caps read from the header (413 image_too_large),
   `modelcard` decode, face alignment for face models (422 no_face), the card's preprocessing.
5. batcher [loop, then its threads]: `Batcher.process(batch, [SearchJob])`: collect (`Batcher._collect`),
   embed (`Encoder.run` on the model thread), postprocess (`app.search.finish_searches` on the postprocess
   thread).
6. search [postprocess thread]: `Gallery.search(wait=False)`, one call per gallery per batch; a gallery busy
   with a write answers `Deferred`, and `identify` searches again on a worker thread, waiting at most
   SG_GALLERY_BUSY_WAIT_S (503 gallery_busy).
7. answer [loop]: `identify_threshold` (the gallery's own, or the card's for its size), `decide` (identity
   or unknown, ambiguous by `SG_AMBIGUITY_MARGIN`), the face box: an `IdentifyOut`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import numpy as np

from app.encoder import Encoder
from app.errors import BadIdentity, BadMetadata, InvalidRequest, NotRunning, TooManyImages
from app.imaging import FaceFound, Prepared, Upload, prepare_images
from app.keep import KeepConfig, keep_image
from app.runtime import Runtime, blocking, identify_threshold
from app.schemas import CandidateOut, EnrollOut, FaceOut, IdentifyOut, VerifyOut
from app.search import Deferred, SearchJob
from gallery import inputs
from gallery.centroids import centroid
from gallery.gallery import Gallery
from gallery.types import Candidate

T = TypeVar("T")
DEFAULT_TOP_K = 5  # identities an identify answer lists, unless asked otherwise
MAX_TOP_K = 100


def parse_metadata(raw: str | None) -> dict[str, Any] | None:
    """The `metadata` form field: absent/empty -> None, else it must be a JSON object."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to parse
        raise BadMetadata(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadMetadata(f"metadata must be a JSON object, got {type(value).__name__}")
    try:
        inputs.metadata_json(value)
    except ValueError as exc:
        raise BadMetadata(str(exc)) from exc
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def check_identity(identity: str, *, new: bool = False) -> str:
    """`identity` as a name to look up, or (`new`) as one a new reference may take (`inputs.new_identity`)."""
    try:
        return inputs.new_identity(identity) if new else inputs.identity(identity)
    except ValueError as exc:
        raise BadIdentity(str(exc)) from exc


def check_image_count(count: int, *, limit: int) -> None:
    if count < 1:
        raise InvalidRequest("send at least one image")
    if count > limit:
        raise TooManyImages(
            f"{count} images in one request; the limit is {limit} (SG_MAX_IMAGES_PER_REQUEST)"
        )


def threshold_for(gallery: Gallery, encoder: Encoder) -> float:
    """verify's threshold: the gallery's own, else its model card's pair threshold."""
    own = gallery.meta.threshold
    return own if own is not None else encoder.card.threshold.value


def statistic_of(encoder: Encoder) -> str:
    """How identify scores an identity: the card's identification statistic, else its nearest reference."""
    table = encoder.card.identification
    return table.statistic if table is not None else "nearest"


def decide(candidates: Sequence[Candidate], *, threshold: float, margin: float) -> IdentifyOut:
    """Nearest identity if within the threshold, else unknown; ambiguous if the runner-up is within margin."""
    rows = [
        CandidateOut(identity=c.identity, distance=c.distance, reference_id=c.reference_id)
        for c in candidates
    ]
    if not rows:
        return IdentifyOut(
            identity=None, distance=None, threshold=threshold, match=False, ambiguous=False, candidates=[]
        )
    best = rows[0]
    match = best.distance <= threshold
    ambiguous = len(rows) > 1 and rows[1].distance - best.distance <= margin
    identity = best.identity if match else None
    return IdentifyOut(
        identity=identity,
        distance=best.distance,
        threshold=threshold,
        match=match,
        ambiguous=ambiguous,
        candidates=rows,
    )


def _prepare(rt: Runtime, encoder: Encoder, uploads: Sequence[Upload], single_face: bool = False) -> Prepared:
    """(blocking) Decode, align (face models) and preprocess every upload into the encoder's input batch.

    The encoder's batcher must have room for them first: an overloaded service answers 429 without decoding.
    """
    rt.batcher(encoder.name).admit(len(uploads))
    s = rt.settings
    return prepare_images(
        uploads,
        encoder.card.input,
        max_pixels=s.max_image_pixels,
        max_side=s.max_image_side,
        max_aspect=s.max_image_aspect,
        aligner=encoder.aligner,
        single_face=single_face,
    )


def _open_and_prepare(
    rt: Runtime, gallery_name: str, uploads: Sequence[Upload], single_face: bool = False
) -> tuple[Gallery, Encoder, Prepared]:
    """(blocking) The gallery and its encoder, then the uploads decoded for that encoder."""
    gallery, encoder = rt.open_gallery(gallery_name)
    return gallery, encoder, _prepare(rt, encoder, uploads, single_face)


def faces_out(prepared: Prepared) -> list[FaceOut] | None:
    """The faces found, for the response; None for a model without alignment."""
    if any(face is None for face in prepared.faces):
        return None
    return [_face_out(face) for face in prepared.faces if face is not None]


def _face_out(face: FaceFound) -> FaceOut:
    return FaceOut(box=list(face.box), detected=face.detected, faces=face.faces)


async def on_decode_pool(rt: Runtime, func: Callable[..., T], /, *args: Any) -> T:
    """Run a decoding step on the decode pool (SG_DECODE_THREADS threads), off the event loop.

    A plain executor rather than anyio's worker threads: its C work queue costs the event loop far less
    per call than anyio's limiter and `queue.Queue` hand-off, which showed under load."""
    pool = rt.decode_pool
    if pool is None:
        raise NotRunning("the service is not running")
    try:
        work = asyncio.get_running_loop().run_in_executor(pool, partial(func, *args))
    except RuntimeError as exc:  # the pool was shut down between the check and the submit
        raise NotRunning("the service is not running") from exc
    return await work


def _store(
    gallery: Gallery,
    identity: str,
    embeddings: np.ndarray,
    *,
    uploads: Sequence[Upload],
    metadata: dict[str, Any] | None,
    keep: KeepConfig | None,
    model_sha256: str,
) -> list[int]:
    """(blocking) Hash the uploads (up to SG_MAX_UPLOAD_MB) and store the references durably, with their
    kept images and thumbnails unless `keep` is None or the gallery keeps none."""
    hashes = [upload.sha256 for upload in uploads]
    kept = None
    if keep is not None and gallery.meta.keep_images:
        kept = [keep_image(upload, keep) for upload in uploads]
    return gallery.add(
        identity, embeddings, image_sha256s=hashes, metadata=metadata, images=kept, model_sha256=model_sha256
    )


def keep_config(rt: Runtime) -> KeepConfig | None:
    """What enroll keeps of each image (SG_KEPT_IMAGE_MAX_KB, SG_THUMBNAIL_SIDE); None with SG_KEEP_IMAGES off."""
    s = rt.settings
    if not s.keep_images:
        return None
    return KeepConfig(max_bytes=s.kept_image_max_kb * 1024, thumbnail_side=s.thumbnail_side)


async def enroll(
    rt: Runtime, *, gallery_name: str, identity: str, uploads: Sequence[Upload], metadata_raw: str | None
) -> EnrollOut:
    """Store every image as a reference of `identity`, or nothing at all."""
    identity = check_identity(identity, new=True)
    metadata = parse_metadata(metadata_raw)
    single = rt.settings.enroll_multiple_faces == "refuse"
    gallery, encoder, prepared = await on_decode_pool(
        rt, _open_and_prepare, rt, gallery_name, uploads, single
    )
    embeddings = await rt.batcher(encoder.name).embed(list(prepared.batch))
    try:
        ids = await blocking(
            _store,
            gallery,
            identity,
            embeddings,
            uploads=uploads,
            metadata=metadata,
            keep=keep_config(rt),
            model_sha256=encoder.sha256,
        )
    except ValueError as exc:  # e.g. an image whose embedding has no direction
        raise InvalidRequest(str(exc)) from exc
    return EnrollOut(
        gallery=gallery_name,
        identity=identity,
        reference_ids=ids,
        enrolled=len(ids),
        faces=faces_out(prepared),
    )


async def identify(rt: Runtime, *, gallery_name: str, upload: Upload, top_k: int) -> IdentifyOut:
    """Who is this? The nearest identities of the gallery, and the decision against its threshold."""
    gallery, encoder, prepared = await on_decode_pool(rt, _open_and_prepare, rt, gallery_name, [upload])
    # the runner-up decides `ambiguous` even when only one candidate is asked for
    job = SearchJob(
        gallery, top_k=max(top_k, 2), statistic=statistic_of(encoder), model_sha256=encoder.sha256
    )
    (candidates,) = await rt.batcher(encoder.name).process(list(prepared.batch), [job])
    # a gallery busy with a write is not waited for on the batcher's postprocess thread, but here, on a worker
    # thread
    if isinstance(candidates, Deferred):
        wait = rt.settings.gallery_busy_wait_s  # bounded: past it, 503 gallery_busy instead of a hung request
        search = partial(
            gallery.search, top_k=job.top_k, statistic=job.statistic, model_sha256=encoder.sha256, wait=wait
        )
        (candidates,) = await blocking(search, candidates.embedding[None, :])
    identities, references = gallery.size
    threshold = identify_threshold(
        encoder.card,
        own=gallery.meta.threshold,
        identities=identities,
        references=references,
        fpir=rt.settings.identify_fpir,
    )
    decision = decide(candidates, threshold=threshold, margin=rt.settings.ambiguity_margin)
    faces = faces_out(prepared)
    update = {"candidates": decision.candidates[:top_k], "face": faces[0] if faces else None}
    return decision.model_copy(update=update)


def _identity_distance(
    gallery: Gallery, identity: str, embedding: np.ndarray, statistic: str
) -> tuple[float, int]:
    """(blocking) The distance from an embedding to an identity, scored as identify scores it (its nearest
    reference, or its centroid), and the identity's reference count."""
    refs = gallery.identity_embeddings(identity)
    if statistic == "centroid":
        return float(np.linalg.norm(centroid(refs) - embedding)), len(refs)
    return float(np.linalg.norm(refs - embedding[None, :], axis=1).min()), len(refs)


async def verify_identity(rt: Runtime, *, gallery_name: str, identity: str, image: Upload) -> VerifyOut:
    """Is this image that enrolled identity? Scored as identify scores it (nearest reference or centroid),
    against identify's threshold for a gallery of one identity with that many references (the gallery's own
    threshold if it has one)."""
    identity = check_identity(identity)
    gallery, encoder, prepared = await on_decode_pool(rt, _open_and_prepare, rt, gallery_name, [image])
    (embedding,) = await rt.batcher(encoder.name).embed(list(prepared.batch))
    distance, references = await blocking(
        _identity_distance, gallery, identity, embedding, statistic_of(encoder)
    )
    threshold = identify_threshold(
        encoder.card,
        own=gallery.meta.threshold,
        identities=1,
        references=references,
        fpir=rt.settings.identify_fpir,
    )
    return VerifyOut(
        distance=distance,
        threshold=threshold,
        match=distance <= threshold,
        model=encoder.name,
        faces=faces_out(prepared),
        identity=identity,
        references=references,
    )


async def verify(
    rt: Runtime, *, image_a: Upload, image_b: Upload, gallery_name: str | None, model_name: str | None
) -> VerifyOut:
    """Are these two images the same identity, under a gallery's model and threshold or a model's card?"""
    if (gallery_name is None) == (model_name is None):
        raise InvalidRequest("give exactly one of `gallery` or `model`")
    uploads = [image_a, image_b]
    if gallery_name is not None:
        gallery, encoder, prepared = await on_decode_pool(rt, _open_and_prepare, rt, gallery_name, uploads)
        threshold = threshold_for(gallery, encoder)
    else:
        encoder = rt.encoder(str(model_name))
        threshold = encoder.card.threshold.value
        prepared = await on_decode_pool(rt, _prepare, rt, encoder, uploads)
    pair = await rt.batcher(encoder.name).embed(list(prepared.batch))
    distance = float(np.linalg.norm(pair[0] - pair[1]))
    match = distance <= threshold
    return VerifyOut(
        distance=distance, threshold=threshold, match=match, model=encoder.name, faces=faces_out(prepared)
    )
