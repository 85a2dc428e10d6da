"""Koch-style random distortions (affine, flips, crop jitter, brightness/contrast) of PIL images.

Every random draw comes from the `random.Random` passed in, so an augmentation is reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

Fill = int | tuple[int, ...]


@dataclass(frozen=True)
class AugmentConfig:
    """Magnitudes of each distortion; all zero (scale (1, 1), no flips) leaves images unchanged.

    rotation:    degrees, angle drawn uniformly from [-rotation, +rotation].
    shear:       affine shear coefficient (dimensionless, tan of the shear angle; x' = x + s*y), drawn
                 from [-shear, +shear] independently for x and y, as Koch et al.'s rho in [-0.3, 0.3].
    scale:       (low, high) factors, drawn independently for x and y.
    translate:   fraction of the image's width / height, drawn from [-translate, +translate] per axis.
    hflip/vflip: mirror left-right / top-bottom with probability 0.5 (only where the domain allows).
    crop_jitter: crop up to this fraction of the size from each side, then resize back (framing jitter).
    brightness:  multiply brightness by 1 + u, u in [-brightness, +brightness]; contrast likewise.
    shading:     light from one side: pixels multiplied by a linear ramp falling from 1 to 1 - u across the
                 image in a random direction, u in [0, shading] (the harsh side light of Yale B).
    grey:        probability of turning a colour image grey (kept in its mode, three equal channels).
    p_affine:    probability with which each affine component (rotation, shear, scale, translation) applies.
    """

    rotation: float = 10.0
    shear: float = 0.3
    scale: tuple[float, float] = (0.8, 1.2)
    translate: float = 0.1
    hflip: bool = False
    vflip: bool = False
    crop_jitter: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    shading: float = 0.0
    grey: float = 0.0
    p_affine: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(float(s) for s in self.scale))
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale}")
        for name in ("rotation", "shear", "brightness", "contrast", "shading", "grey"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.translate < 1 or not 0 <= self.crop_jitter < 0.5:
            raise ValueError("translate must be in [0, 1) and crop_jitter in [0, 0.5)")
        if not 0 <= self.p_affine <= 1 or max(self.brightness, self.contrast, self.shading, self.grey) > 1:
            raise ValueError("p_affine must be in [0, 1]; brightness, contrast, shading and grey at most 1")


def border_fill(img: Image.Image) -> Fill:
    """The median of the image's border pixels (per channel): the colour to fill exposed areas with."""
    arr = np.asarray(img)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    median = np.median(border, axis=0)
    return int(round(float(median))) if np.ndim(median) == 0 else tuple(int(round(float(v))) for v in median)


def _affine_params(cfg: AugmentConfig, rng: random.Random) -> tuple[float, ...]:
    """(theta radians, shear x, shear y, scale x, scale y, shift x, shift y), each part applied with p."""
    p = cfg.p_affine
    theta = math.radians(rng.uniform(-cfg.rotation, cfg.rotation)) if rng.random() < p else 0.0
    shear = [rng.uniform(-cfg.shear, cfg.shear) for _ in range(2)] if rng.random() < p else [0.0, 0.0]
    scale = [rng.uniform(*cfg.scale) for _ in range(2)] if rng.random() < p else [1.0, 1.0]
    shift = [rng.uniform(-cfg.translate, cfg.translate) for _ in range(2)] if rng.random() < p else [0.0, 0.0]
    return (theta, *shear, *scale, *shift)


def affine_matrix(size: tuple[int, int], params: tuple[float, ...]) -> np.ndarray:
    """Forward 3x3 map about the image centre: shift . rotate . shear . scale (shift as size fractions)."""
    (w, h), (theta, shx, shy, sx, sy, tx, ty) = size, params
    cos, sin = math.cos(theta), math.sin(theta)
    centre = np.array([[1, 0, w / 2], [0, 1, h / 2], [0, 0, 1]])
    move = np.array([[1, 0, tx * w], [0, 1, ty * h], [0, 0, 1]])
    rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    shear = np.array([[1, shx, 0], [shy, 1, 0], [0, 0, 1]])
    return move @ centre @ rotate @ shear @ np.diag([sx, sy, 1.0]) @ np.linalg.inv(centre)


def random_affine(img: Image.Image, cfg: AugmentConfig, rng: random.Random) -> Image.Image:
    """Apply a random affine map, filling exposed areas with the border colour."""
    forward = affine_matrix(img.size, _affine_params(cfg, rng))
    if np.allclose(forward, np.eye(3)):
        return img
    inverse = np.linalg.inv(forward)  # PIL maps output pixels back to input pixels
    data = tuple(float(v) for v in inverse[:2].ravel())
    fill = border_fill(img)
    return img.transform(img.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR, fillcolor=fill)


def crop_jitter(img: Image.Image, jitter: float, rng: random.Random) -> Image.Image:
    """Crop up to `jitter` of the size from each side and resize back to the original size."""
    w, h = img.size
    left, right = rng.uniform(0, jitter) * w, rng.uniform(0, jitter) * w
    top, bottom = rng.uniform(0, jitter) * h, rng.uniform(0, jitter) * h
    return img.resize(img.size, Image.Resampling.BILINEAR, box=(left, top, w - right, h - bottom))


def shade(img: Image.Image, depth: float, angle: float) -> Image.Image:
    """Multiply by a ramp from 1 (the lit side, towards `angle` radians) to 1 - depth (the far side)."""
    w, h = img.size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    along = (xs - w / 2) * math.cos(angle) + (ys - h / 2) * math.sin(angle)
    span = max(float(np.ptp(along)), 1.0)
    ramp = 1.0 - depth * (along.max() - along) / span
    arr = np.asarray(img, dtype=np.float32)
    arr = arr * (ramp if arr.ndim == 2 else ramp[:, :, None])
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), mode=img.mode)


def _photometric(img: Image.Image, cfg: AugmentConfig, rng: random.Random) -> Image.Image:
    if cfg.grey > 0 and img.mode == "RGB" and rng.random() < cfg.grey:
        img = img.convert("L").convert("RGB")
    if cfg.shading > 0:
        img = shade(img, rng.uniform(0, cfg.shading), rng.uniform(-math.pi, math.pi))
    if cfg.brightness > 0:
        img = ImageEnhance.Brightness(img).enhance(1 + rng.uniform(-cfg.brightness, cfg.brightness))
    if cfg.contrast > 0:
        img = ImageEnhance.Contrast(img).enhance(1 + rng.uniform(-cfg.contrast, cfg.contrast))
    return img


def augment_image(img: Image.Image, cfg: AugmentConfig, rng: random.Random) -> Image.Image:
    """Return a randomly distorted image of the same size: crop jitter, affine, flips, photometric.

    `img` is never modified; it is returned itself when no distortion applies. Images not in mode "L" or
    "RGB" are converted first ("1", "I", "I;16", "F" and "LA" to "L", others to "RGB").
    """
    if img.mode not in ("L", "RGB"):
        img = img.convert("L" if img.mode in ("1", "I", "I;16", "F", "LA") else "RGB")
    if cfg.crop_jitter > 0:
        img = crop_jitter(img, cfg.crop_jitter, rng)
    img = random_affine(img, cfg, rng)
    if cfg.hflip and rng.random() < 0.5:
        img = ImageOps.mirror(img)
    if cfg.vflip and rng.random() < 0.5:
        img = ImageOps.flip(img)
    return _photometric(img, cfg, rng)
