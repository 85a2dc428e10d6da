"""The page's colours: every text colour against each background it is drawn on reaches WCAG AA (4.5:1),
and the borders of inputs and drop zones reach 3:1 (WCAG 1.4.11), computed from app/ui/static/style.css."""

from __future__ import annotations

import re

import pytest

from app.routes.ui import STATIC

CSS = (STATIC / "style.css").read_text()
COLOURS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS.split("}")[0]))
WHITE = "#ffffff"
FIELD_BORDER = "#767f89"  # inputs, drop zones, bars

TEXT_PAIRS = [
    ("ink", "paper"),
    ("ink", "wash"),
    ("muted", "paper"),
    ("muted", "wash"),
    ("muted", "accent-wash"),
    ("accent", "paper"),
    ("accent", "wash"),
    ("accent", "accent-wash"),
    (WHITE, "accent"),
    (WHITE, "bad"),
    ("ok", "paper"),
    ("ok", "ok-wash"),
    ("bad", "paper"),
    ("bad", "bad-wash"),
    ("warn", "warn-wash"),
]


def hex_of(name: str) -> str:
    return name if name.startswith("#") else COLOURS[name]


def luminance(colour: str) -> float:
    """WCAG relative luminance of an sRGB #rrggbb colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(hex_of(a)), luminance(hex_of(b))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_of_black_on_white_is_21():
    assert contrast("#000000", WHITE) == pytest.approx(21.0)
    assert contrast(WHITE, WHITE) == pytest.approx(1.0)


@pytest.mark.parametrize(("text", "background"), TEXT_PAIRS)
def test_text_colour_on_its_background_reaches_aa(text, background):
    assert contrast(text, background) >= 4.5


@pytest.mark.parametrize("background", ["paper", "wash"])
def test_field_borders_reach_3_to_1(background):
    assert FIELD_BORDER in CSS
    assert contrast(FIELD_BORDER, background) >= 3.0
