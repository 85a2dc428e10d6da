"""Calibrate a gallery's identify threshold on its own references (see `gallery.calibration`), off the loop."""

from __future__ import annotations

import dataclasses

from app.encoder import Encoder
from app.recognition import statistic_of
from app.runtime import Runtime, blocking
from app.schemas import CalibrationOut
from gallery.calibration import calibrate

FALLBACK_FPIR = 0.05  # for a card without an identification table


def default_fpir(rt: Runtime, encoder: Encoder) -> float:
    """SG_IDENTIFY_FPIR, else the card's identification target, else FALLBACK_FPIR."""
    if rt.settings.identify_fpir is not None:
        return rt.settings.identify_fpir
    table = encoder.card.identification
    return table.target_fpir if table is not None else FALLBACK_FPIR


def _calibrate(rt: Runtime, gallery_name: str, target_fpir: float | None) -> CalibrationOut:
    """(blocking) Read the gallery's references from its store, choose the threshold, store it."""
    gallery, encoder = rt.open_gallery(gallery_name)
    target = default_fpir(rt, encoder) if target_fpir is None else target_fpir
    previous = rt.effective_threshold(gallery.info)
    matrix, identities, _damaged = gallery.stored_references()  # damaged: left out, logged
    result = calibrate(matrix, identities, target_fpir=target, statistic=statistic_of(encoder))
    gallery.set_threshold(result.threshold, source="calibrated")
    return CalibrationOut(gallery=gallery.name, previous_threshold=previous, **dataclasses.asdict(result))


async def calibrate_gallery(rt: Runtime, *, gallery_name: str, target_fpir: float | None) -> CalibrationOut:
    """Set the gallery's threshold to the largest whose FPIR on its own strangers is at most the target."""
    return await blocking(_calibrate, rt, gallery_name, target_fpir)
