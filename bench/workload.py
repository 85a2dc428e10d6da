"""The HTTP requests each scenario sends, built once from an `ImageSet` as pre-encoded multipart bodies."""

from __future__ import annotations

import itertools

import httpx

from bench.load import PreparedRequest, prepare_multipart
from bench.payloads import Encoded, ImageSet

BENCH_GALLERY = "bench"
SCENARIO_PATHS = {"identify": "/identify", "enroll": "/enroll", "verify": "/verify"}


def identify_requests(
    images: ImageSet, *, gallery: str = BENCH_GALLERY, top_k: int = 5
) -> list[PreparedRequest]:
    """One request per probe image."""
    return [
        prepare_multipart(
            "/identify",
            fields={"gallery": gallery, "top_k": str(top_k)},
            files=[("image", probe.filename, probe.data)],
        )
        for probe in images.probes
    ]


def verify_requests(images: ImageSet, *, model: str) -> list[PreparedRequest]:
    """Alternating same-identity and different-identity pairs, checked against the model's own threshold."""
    pairs = _verify_pairs(images)
    return [
        prepare_multipart(
            "/verify",
            fields={"model": model},
            files=[("image_a", a.filename, a.data), ("image_b", b.filename, b.data)],
        )
        for a, b in pairs
    ]


def enroll_requests(
    images: ImageSet, *, per_call: int, calls: int = 64, gallery: str = BENCH_GALLERY
) -> list[PreparedRequest]:
    """`calls` distinct bulk enrollments of `per_call` images each, under new identity names."""
    if per_call < 1 or calls < 1:
        raise ValueError("per_call and calls must be >= 1")
    pool = itertools.cycle(images.all_images)
    return [
        prepare_multipart(
            "/enroll",
            fields={"gallery": gallery, "identity": f"bench-enroll-{k:04d}"},
            files=[("images", img.filename, img.data) for img in itertools.islice(pool, per_call)],
        )
        for k in range(calls)
    ]


def scenario_requests(scenario: str, images: ImageSet, *, model: str, per_call: int) -> list[PreparedRequest]:
    """The requests for one of the HTTP scenarios."""
    if scenario == "identify":
        return identify_requests(images)
    if scenario == "verify":
        return verify_requests(images, model=model)
    if scenario == "enroll":
        return enroll_requests(images, per_call=per_call)
    raise ValueError(f"not an HTTP scenario: {scenario!r}")


def enroll_identities(
    client: httpx.Client,
    images: ImageSet,
    *,
    base_url: str,
    headers: dict[str, str],
    gallery: str = BENCH_GALLERY,
) -> int:
    """Enroll every identity of `images` through the service (one call each); returns references added."""
    added = 0
    for identity, group in images.enroll.items():
        request = prepare_multipart(
            "/enroll",
            fields={"gallery": gallery, "identity": identity},
            files=[("images", img.filename, img.data) for img in group],
        )
        response = client.post(
            f"{base_url}/enroll",
            content=request.body,
            headers=headers | {"content-type": request.content_type},
        )
        if response.status_code != 201:
            raise RuntimeError(f"enrolling {identity!r} failed: {response.status_code} {response.text[:300]}")
        added += int(response.json()["enrolled"])
    return added


def identify_accuracy(
    client: httpx.Client, images: ImageSet, *, base_url: str, headers: dict[str, str], limit: int = 50
) -> float:
    """Share of probes (at most `limit`) whose nearest candidate is their own identity: a sanity check."""
    probes = images.probes[:limit]
    hits = 0
    for request, probe in zip(identify_requests(ImageSet({}, probes)), probes, strict=True):
        response = client.post(
            f"{base_url}/identify",
            content=request.body,
            headers=headers | {"content-type": request.content_type},
        )
        response.raise_for_status()
        candidates = response.json()["candidates"]
        hits += bool(candidates) and candidates[0]["identity"] == probe.identity
    return hits / len(probes) if probes else float("nan")


def _verify_pairs(images: ImageSet) -> list[tuple[Encoded, Encoded]]:
    groups = list(images.enroll.values())
    if not groups:
        raise ValueError("verify needs at least one identity")
    pairs = []
    for i, group in enumerate(groups):
        other = groups[(i + 1) % len(groups)]
        pairs.append((group[0], group[-1]))
        pairs.append((group[0], other[0]))
    return pairs
