"""Encoder levers (IOBinding, fp16 export with parity, several sessions) on the tiny encoder, on the CPU."""

import numpy as np
import pytest

from bench.gpulevers import measure, parity


def test_parity_of_known_angle_gives_its_cosine_and_largest_difference():
    result = parity(np.array([[1.0, 0.0]], np.float32), np.array([[0.6, 0.8]], np.float32))
    assert result["min_cosine"] == pytest.approx(0.6) and result["max_abs_diff"] == pytest.approx(0.8)


def test_measure_on_cpu_reports_every_lever_and_fp16_stays_close(models_dir):
    doc = measure(models_dir, model="tiny", device="cpu", batch=8, duration_s=0.05)
    assert doc["provider"] == "CPUExecutionProvider" and doc["plain_images_per_s"] > 0
    assert doc["iobinding"]["images_per_s"] > 0
    assert doc["fp16"]["min_cosine"] > 0.99
    assert set(doc["sessions"]) == {"1", "2", "4"}
