"""Face detection and 5-point alignment, as a card's `input.align` describes it (training and serving alike).

dlib's HOG detector finds faces; its 5-point shape predictor places the eyes' corners and the nose; dlib's
`get_face_chip` cuts the similarity-aligned chip that dlib's face network was trained on. The largest face
wins. An image with no face detected that is small enough to be a crop is aligned from landmarks found on
the whole crop, if the chip then looks like a face to the detector; anything else has no face.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from modelcard.card import AlignSpec, CardError, sha256_file

Box = tuple[int, int, int, int]  # left, top, right, bottom, in the image's pixels


class NoFace(ValueError):
    """No face was found in the image."""


@dataclass(frozen=True)
class AlignedFace:
    """The chip, where the face was (`box`), whether the detector found it or the crop was assumed to be
    one (`detected`), and how many faces the detector found."""

    chip: Image.Image
    box: Box
    detected: bool
    faces: int


def upsample_steps(size: tuple[int, int], spec: AlignSpec) -> int:
    """x2 pyramid steps (0-2) that bring the shorter side to at least `detect_min_side`."""
    short = min(size)
    if short >= spec.detect_min_side:
        return 0
    return min(2, math.ceil(math.log2(spec.detect_min_side / short)))


def detection_scale(size: tuple[int, int], spec: AlignSpec) -> float:
    """The factor an image is shrunk by before detection (1.0: as it is)."""
    return min(1.0, spec.detect_max_side / max(size))


def area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def find_landmarks_file(spec: AlignSpec, *folders: Path) -> Path:
    """The landmarks file the card names, from the first folder holding it, else from the package it ships in
    (`face_recognition_models`); CardError if none is found or its sha256 differs from the card's."""
    candidates = [Path(folder) / spec.landmarks for folder in folders]
    try:
        import face_recognition_models

        candidates.append(Path(face_recognition_models.pose_predictor_five_point_model_location()))
    except ImportError:
        pass
    for path in candidates:
        if path.is_file() and sha256_file(path) == spec.landmarks_sha256:
            return path
    raise CardError(
        f"no landmarks file {spec.landmarks!r} with sha256 {spec.landmarks_sha256[:12]} in {folders}"
    )


class FaceAligner:
    """Aligns faces for one `AlignSpec`. Thread-safe: each thread gets its own dlib detector and predictor."""

    def __init__(self, spec: AlignSpec, landmarks_path: Path) -> None:
        import dlib  # only where faces are aligned

        self.spec, self._path, self._dlib = spec, str(landmarks_path), dlib
        self._local = threading.local()
        self._tools()  # fail at load, not at the first request

    def _tools(self):
        local = self._local
        if not hasattr(local, "detector"):
            local.detector = self._dlib.get_frontal_face_detector()
            local.predictor = self._dlib.shape_predictor(self._path)
        return local.detector, local.predictor

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Every face the detector finds, largest first, in the image's pixels (a box may reach past the edge,
        as the detector places it; the landmarks are found in it as it is)."""
        detector, _ = self._tools()
        h, w = rgb.shape[:2]
        scale = detection_scale((w, h), self.spec)
        work = rgb
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            work = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
        steps = upsample_steps((work.shape[1], work.shape[0]), self.spec)
        rects = detector(work, steps)
        boxes = [tuple(round(v / scale) for v in _ltrb(r)) for r in rects]
        return sorted(boxes, key=area, reverse=True)

    def chip(self, rgb: np.ndarray, box: Box) -> Image.Image:
        """The aligned chip for the face in `box`."""
        _, predictor = self._tools()
        shape = predictor(rgb, self._dlib.rectangle(*box))
        return Image.fromarray(
            self._dlib.get_face_chip(rgb, shape, size=self.spec.chip, padding=self.spec.padding)
        )

    def crop_score(self, chip: Image.Image) -> float:
        """The detector's best score on the equalized chip (-inf when it finds nothing at all)."""
        detector, _ = self._tools()
        _, scores, _ = detector.run(np.asarray(ImageOps.equalize(chip)), 1, -3.0)
        return max(scores, default=-math.inf)

    def align(self, img: Image.Image, *, strict: bool = True) -> AlignedFace:
        """Align the largest face of `img` (any mode); NoFace when there is none. `strict=False` (training on
        sets of face crops only) takes every crop-sized image as a face crop, without the face check."""
        rgb = np.ascontiguousarray(np.asarray(img.convert("RGB")))
        h, w = rgb.shape[:2]
        boxes = self.detect(rgb)
        if boxes:
            return AlignedFace(self.chip(rgb, boxes[0]), _clip(boxes[0], w, h), True, len(boxes))
        if max(w, h) > self.spec.crop_max_side:
            raise NoFace(f"no face found in a {w}x{h} image")
        whole = (0, 0, w - 1, h - 1)
        chip = self.chip(rgb, whole)
        if strict and self.crop_score(chip) < self.spec.crop_min_score:
            raise NoFace(f"no face found in a {w}x{h} image, and it does not look like a face crop")
        return AlignedFace(chip, whole, False, 0)


def _ltrb(rect) -> Box:
    return rect.left(), rect.top(), rect.right(), rect.bottom()


def _clip(box: Box, w: int, h: int) -> Box:
    left, top, right, bottom = box
    return max(0, left), max(0, top), min(w - 1, right), min(h - 1, bottom)
