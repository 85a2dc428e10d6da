"""Open-set accuracy through the real service over HTTP, the way a user checks it: on a class-per-folder tree,
half the identities are enrolled with k images each; every other image of theirs is a mated probe, every
image of the other half a stranger. Verification pairs use the card's threshold through POST /verify.

For a face model, face_recognition's pipeline is measured on the same images beside it: dlib's HOG detector
(one upsampling), the 5-point landmarks, the 150 px chip, dlib's descriptor and its 0.6 distance, as that
package does it (`face_locations`, `face_encodings`, `compare_faces`); an image where it finds no face gets the
whole image as the face box, as its users do with crops.

Run: `python -m bench.openset --model faces --images DIR [--images DIR ...] --out result.json`
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.payloads import IMAGE_SUFFIXES
from bench.server import REPO_ROOT, ServiceConfig, ServiceProcess

GALLERY = "openset"


@dataclass(frozen=True)
class Protocol:
    """Which images play which part (paths), drawn once so that both pipelines see the same."""

    enroll: dict[str, list[Path]]
    mated: list[tuple[str, Path]]
    strangers: list[Path]
    pairs: list[tuple[Path, Path, bool]]


def identities(roots: Sequence[Path], *, min_images: int) -> dict[str, list[Path]]:
    """Every class folder of the roots with at least `min_images` images, as "<root name>/<class>"."""
    out = {}
    for root in roots:
        for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if len(files) >= min_images:
                out[f"{Path(root).name}/{folder.name}"] = files
    return out


def draw(
    classes: dict[str, list[Path]],
    *,
    k: int,
    pairs: int,
    seed: int,
    strangers_share: float = 0.5,
    stranger_classes: dict[str, list[Path]] | None = None,
) -> Protocol:
    """A share of the identities left out as strangers (half by default; 0: closed set, everyone enrolled
    with k random images), the rest enrolled; every image of `stranger_classes` (classes never enrolled,
    e.g. types the model never saw) a stranger too; `pairs` verification pairs, half same-identity, among
    `classes`."""
    rng = random.Random(seed)
    names = sorted(classes)
    rng.shuffle(names)
    cut = len(names) - round(strangers_share * len(names))
    known, strangers = names[:cut], names[cut:]
    enroll, mated = {}, []
    for name in known:
        files = rng.sample(classes[name], len(classes[name]))
        enroll[name] = files[:k]
        mated += [(name, f) for f in files[k:]]
    pair_list = []
    for i in range(pairs):
        if i % 2 == 0:
            name = rng.choice(names)
            a, b = rng.sample(classes[name], 2)
            pair_list.append((a, b, True))
        else:
            x, y = rng.sample(names, 2)
            pair_list.append((rng.choice(classes[x]), rng.choice(classes[y]), False))
    outsiders = [f for files in (stranger_classes or {}).values() for f in files]
    return Protocol(enroll, mated, [f for n in strangers for f in classes[n]] + outsiders, pair_list)


def _file(path: Path, field: str = "image") -> tuple[str, tuple[str, bytes, str]]:
    return (field, (path.name, path.read_bytes(), "application/octet-stream"))


def service_figures(base: str, headers: dict[str, str], *, model: str, protocol: Protocol) -> dict[str, Any]:
    """Enroll, identify and verify over HTTP; counts of what came back, 4xx answers included."""
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        client.post("/galleries", json={"name": GALLERY, "model": model}).raise_for_status()
        refused = 0
        for name, files in protocol.enroll.items():
            r = client.post(
                "/enroll",
                data={"gallery": GALLERY, "identity": name},
                files=[_file(f, "images") for f in files],
            )
            refused += r.status_code != 201
        replies = [_identify(client, path) for _, path in protocol.mated]
        answers, nearest = [r[0] for r in replies], [r[1] for r in replies]
        stranger_answers = [_identify(client, path)[0] for path in protocol.strangers]
        same = [_verify(client, a, b, model) for a, b, _ in protocol.pairs]
    correct = [a == name for a, (name, _) in zip(answers, protocol.mated, strict=True)]
    top1 = [c == name for c, (name, _) in zip(nearest, protocol.mated, strict=True)]
    truth = [s for _, _, s in protocol.pairs]
    return {
        "identities_enrolled": len(protocol.enroll) - refused,
        "mated_probes": len(answers),
        "mated_identified": float(np.mean(correct)),
        "mated_nearest_is_right": float(np.mean(top1)),
        "mated_refused_4xx": sum(a is _REFUSED for a in answers),
        "strangers": len(stranger_answers),
        "strangers_unknown": _mean([a is None or a is _REFUSED for a in stranger_answers]),
        "verification_pairs": len(same),
        "verification_accuracy": float(np.mean([s == t for s, t in zip(same, truth, strict=True)])),
    }


_REFUSED = object()


def _mean(values: list[bool]) -> float | None:
    return float(np.mean(values)) if values else None


def _identify(client: httpx.Client, path: Path) -> tuple[object, object]:
    """(the answer: an identity, None for unknown, or _REFUSED for a 4xx; the nearest candidate's identity)."""
    r = client.post("/identify", data={"gallery": GALLERY}, files=[_file(path)])
    if r.status_code != 200:
        return _REFUSED, _REFUSED
    body = r.json()
    return body["identity"], body["candidates"][0]["identity"] if body["candidates"] else None


def _verify(client: httpx.Client, a: Path, b: Path, model: str) -> bool:
    r = client.post("/verify", data={"model": model}, files=[_file(a, "image_a"), _file(b, "image_b")])
    return r.status_code == 200 and bool(r.json()["match"])


def face_recognition_figures(protocol: Protocol, *, tolerance: float = 0.6) -> dict[str, Any]:
    """The same protocol through face_recognition's calls into dlib (see the module docstring)."""
    import dlib
    import face_recognition_models as frm
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    cache: dict[Path, np.ndarray] = {}

    def encode(path: Path) -> np.ndarray:
        if path not in cache:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            boxes = detector(rgb, 1)
            box = (
                max(boxes, key=lambda r: r.area())
                if boxes
                else dlib.rectangle(0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1)
            )
            cache[path] = np.array(net.compute_face_descriptor(rgb, predictor(rgb, box), 1))
        return cache[path]

    names = list(protocol.enroll)
    refs = np.stack([encode(f) for n in names for f in protocol.enroll[n]])
    ref_names = [n for n in names for _ in protocol.enroll[n]]

    def answer(path: Path, tolerance: float = tolerance) -> str | None:
        d = np.linalg.norm(refs - encode(path), axis=1)
        return ref_names[int(d.argmin())] if d.min() <= tolerance else None

    correct = [answer(p) == n for n, p in protocol.mated]
    top1 = [answer(p, tolerance=math.inf) == n for n, p in protocol.mated]
    unknown = [answer(p) is None for p in protocol.strangers]
    same = [(np.linalg.norm(encode(a) - encode(b)) <= tolerance) == s for a, b, s in protocol.pairs]
    return {
        "mated_identified": float(np.mean(correct)),
        "mated_nearest_is_right": float(np.mean(top1)),
        "strangers_unknown": _mean(unknown),
        "verification_accuracy": float(np.mean(same)),
        "tolerance": tolerance,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    classes = identities(args.images, min_images=args.k + 1)
    outsiders = identities(args.stranger_images, min_images=1)
    if set(outsiders) & set(classes):
        raise SystemExit(f"classes both enrolled and strangers: {sorted(set(outsiders) & set(classes))}")
    protocol = draw(
        classes,
        k=args.k,
        pairs=args.pairs,
        seed=args.seed,
        strangers_share=args.strangers,
        stranger_classes=outsiders,
    )
    with tempfile.TemporaryDirectory(prefix="sg-openset-") as tmp:
        config = ServiceConfig(data_dir=Path(tmp) / "data", models_dir=args.models_dir)
        with ServiceProcess(config, log_path=Path(tmp) / "service.log") as service:
            service.start()
            ours = service_figures(service.base_url, service.headers, model=args.model, protocol=protocol)
    result = {
        "model": args.model,
        "images": [str(p) for p in args.images],
        "k": args.k,
        "strangers_share": args.strangers,
        "stranger_images": [str(p) for p in args.stranger_images],
        "seed": args.seed,
        "identities": len(classes),
        "service": ours,
    }
    if args.face_recognition:
        result["face_recognition"] = face_recognition_figures(protocol)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.openset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="faces")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--images", type=Path, action="append", required=True, help="a class-per-folder tree")
    parser.add_argument("--k", type=int, default=5, help="images enrolled per identity")
    parser.add_argument("--pairs", type=int, default=400, help="verification pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--strangers", type=float, default=0.5, help="share of identities left out (0: closed set)"
    )
    parser.add_argument(
        "--stranger-images",
        type=Path,
        action="append",
        default=[],
        help="a class-per-folder tree whose classes are never enrolled: every image a stranger",
    )
    parser.add_argument(
        "--face-recognition", action="store_true", help="measure face_recognition's pipeline too"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
