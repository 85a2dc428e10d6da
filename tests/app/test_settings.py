"""Settings: SG_* variables, comma lists, defaults and fail-fast validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SG_API_KEYS", "SG_DATA_DIR", "SG_MODELS_DIR", "SG_PORT", "SG_DEVICE", "SG_QUEUE_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_settings_defaults_serve_var_and_models_without_keys():
    settings = Settings()
    assert settings.data_dir == Path("./var")
    assert settings.models_dir == Path("./models")
    assert settings.api_keys == ()
    assert settings.device == "auto"


def test_settings_reads_prefixed_environment(monkeypatch):
    monkeypatch.setenv("SG_PORT", "9001")
    monkeypatch.setenv("SG_DEVICE", "cpu")
    monkeypatch.setenv("SG_DATA_DIR", "/tmp/sg-data")
    settings = Settings()
    assert (settings.port, settings.device, settings.data_dir) == (9001, "cpu", Path("/tmp/sg-data"))


def test_settings_api_keys_split_on_commas(monkeypatch):
    monkeypatch.setenv("SG_API_KEYS", " key-one, key-two ,,")
    assert Settings().api_keys == ("key-one", "key-two")


def test_settings_unknown_device_fails_fast(monkeypatch):
    monkeypatch.setenv("SG_DEVICE", "tpu")
    with pytest.raises(ValidationError, match="device"):
        Settings()


def test_settings_queue_smaller_than_one_request_fails_fast():
    with pytest.raises(ValidationError, match="SG_QUEUE_SIZE"):
        Settings(queue_size=4, max_images_per_request=8)


def test_settings_max_upload_bytes_from_megabytes():
    assert Settings(max_upload_mb=1.5).max_upload_bytes == 1_572_864


@pytest.mark.parametrize("value", [",", " ", " , ,", "\t"])
def test_settings_api_keys_that_name_no_key_fail_fast(monkeypatch, value):
    monkeypatch.setenv("SG_API_KEYS", value)
    with pytest.raises(ValidationError, match="SG_API_KEYS is set but names no key"):
        Settings()


def test_settings_api_keys_empty_string_is_the_same_as_unset(monkeypatch):
    monkeypatch.setenv("SG_API_KEYS", "")
    assert Settings().api_keys == ()
