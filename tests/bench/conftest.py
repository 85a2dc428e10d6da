"""Shared fixtures for the benchmark tests: a tiny real ONNX encoder and its model card in a models dir.

The encoder is the service tests' one (`tests/support/tiny_encoder.py`), so the whole benchmark path runs in
seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tiny_encoder import write_model

MODEL = "tiny"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding only the tiny encoder, named `tiny`."""
    path = tmp_path_factory.mktemp("models")
    write_model(path, MODEL)
    return path
