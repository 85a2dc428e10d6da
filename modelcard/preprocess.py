"""Turn a decoded PIL image into the encoder's input array, from an `InputSpec` alone.

Training and the service both call this, so what the model saw in training is what it sees in serving.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from modelcard.card import InputSpec


def _resize(img: Image.Image, spec: InputSpec) -> Image.Image:
    size = (spec.width, spec.height)
    if spec.resize == "stretch":
        return img.resize(size, Image.Resampling.BILINEAR)
    if spec.resize == "center_crop":
        return ImageOps.fit(img, size, Image.Resampling.BILINEAR)
    fill = 0 if spec.channels == 1 else (0, 0, 0)
    return ImageOps.pad(img, size, Image.Resampling.BILINEAR, color=fill)


def to_mode(img: Image.Image, spec: InputSpec) -> Image.Image:
    """EXIF-transpose and convert to the card's colour mode ("L" or "RGB")."""
    img = ImageOps.exif_transpose(img)
    mode = "L" if spec.channels == 1 else "RGB"
    if img.mode == mode:
        return img
    if img.mode in ("RGBA", "LA", "P") and mode == "L":
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert(mode)


def brighten(arr: np.ndarray, target: float) -> np.ndarray:
    """Values in [0, 1] raised to the power g = log(target) / log(mean) when the mean is under `target`
    (a gamma that lifts a dark image's mean to about `target`); others unchanged."""
    mean = float(arr.mean())
    if mean >= target:
        return arr
    gamma = np.log(target) / np.log(max(mean, 1e-3))
    return np.power(arr, np.float32(gamma), dtype=np.float32)


def resized(img: Image.Image, spec: InputSpec) -> np.ndarray:
    """The card's colour mode and geometry: uint8 pixels, (H, W) grey or (H, W, 3) RGB, that `normalized`
    turns into the encoder's input (a quarter of its size, so a training cache holds these instead)."""
    return np.asarray(_resize(to_mode(img, spec), spec), dtype=np.uint8)


def normalized(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 pixels from `resized` -> the float32 CHW array the encoder takes (brightening, inversion, the
    card's mean and std)."""
    arr = pixels.astype(np.float32) / 255.0
    if spec.brighten is not None:
        arr = brighten(arr, spec.brighten)
    arr = arr[None, :, :] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if spec.invert:
        arr = 1.0 - arr
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return np.ascontiguousarray((arr - mean) / std, dtype=np.float32)


def preprocess(img: Image.Image, spec: InputSpec) -> np.ndarray:
    """Return a float32 CHW array for one image."""
    return normalized(resized(img, spec), spec)
