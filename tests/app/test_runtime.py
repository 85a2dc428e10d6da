"""The runtime's parts built from the settings: the gallery index configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime import index_config
from app.settings import BatchCap, Settings
from gallery.config import IndexConfig
from gallery.registry import GalleryRegistry


def test_index_config_carries_every_index_setting(tmp_path):
    settings = Settings(
        device="cpu",
        ann_min_size=10,
        search_threads=2,
        search_blas_min_queries=4,
        hnsw_m=16,
        hnsw_ef_construction=40,
        hnsw_ef_search=64,
        index_background_build_min=100,
    )
    assert index_config(settings) == IndexConfig(
        use_gpu=False,
        ann_min_size=10,
        omp_threads=2,
        blas_min_queries=4,
        hnsw_m=16,
        ef_construction=40,
        ef_search=64,
        background_build_min=100,
    )
    assert index_config(Settings(device="auto")).use_gpu is True


def test_registry_takes_a_config_or_its_options_but_not_both(tmp_path):
    config = IndexConfig(ann_min_size=5)
    assert GalleryRegistry(tmp_path, config=config).config is config
    assert GalleryRegistry(tmp_path, ann_min_size=5).config == config
    with pytest.raises(ValueError, match="not both"):
        GalleryRegistry(tmp_path, config=config, ann_min_size=5)


def test_model_max_batch_parses_name_number_pairs_and_caps_within_max_batch():
    settings = Settings(model_max_batch="bodyparts=4, defects=8,faces=64", max_batch=32)
    assert settings.model_max_batch == {"bodyparts": 4, "defects": 8, "faces": 64}
    caps = [settings.batch_cap(m) for m in ("bodyparts", "defects", "faces", "omniglot")]
    assert [c.value for c in caps] == [4, 8, 32, 32]
    assert {c.source for c in caps[:3]} == {"SG_MODEL_MAX_BATCH"} and caps[3].source == "SG_MAX_BATCH"
    assert Settings().model_max_batch == {} and Settings(model_max_batch="").model_max_batch == {}


def test_a_cards_cap_applies_within_max_batch_unless_the_model_has_its_own_or_card_caps_are_off():
    assert Settings(max_batch=32).batch_cap("m", card_cap=4) == BatchCap(4, "card")
    assert Settings(max_batch=2).batch_cap("m", card_cap=4) == BatchCap(2, "card")
    assert Settings(model_max_batch="m=8").batch_cap("m", card_cap=4) == BatchCap(8, "SG_MODEL_MAX_BATCH")
    assert Settings(card_batch_caps=False).batch_cap("m", card_cap=4) == BatchCap(32, "SG_MAX_BATCH")


@pytest.mark.parametrize("bad", ["bodyparts", "bodyparts=0", "=4", "bodyparts=four", "bodyparts=-1"])
def test_model_max_batch_refuses_what_is_not_name_number(bad):
    with pytest.raises(ValueError, match="SG_MODEL_MAX_BATCH"):
        Settings(model_max_batch=bad)


async def test_each_models_batcher_gets_its_own_cap(tmp_path):
    from app.metrics import Metrics
    from app.runtime import Runtime

    models = Path(__file__).resolve().parents[2] / "models"
    settings = Settings(
        device="cpu", models_dir=models, data_dir=tmp_path, default_galleries=(), model_max_batch="defects=4"
    )
    runtime = Runtime(settings, Metrics())
    await runtime.start()
    try:
        assert runtime.batchers["defects"].config.max_batch == 4
        assert runtime.batchers["faces"].config.max_batch == settings.max_batch == 32
    finally:
        await runtime.stop()


async def test_a_model_max_batch_name_that_names_no_model_is_said_at_start(tmp_path, caplog):
    from app.metrics import Metrics
    from app.runtime import Runtime
    from tests.support.tiny_encoder import write_model

    models = tmp_path / "models"
    models.mkdir()
    write_model(models, "toy", seed=0)
    settings = Settings(
        device="cpu",
        models_dir=models,
        data_dir=tmp_path,
        default_galleries=(),
        model_max_batch="toy=4,tyo=2",
    )
    runtime = Runtime(settings, Metrics())
    with caplog.at_level("WARNING", logger="app.runtime"):
        await runtime.start()
    try:
        said = [r.getMessage() for r in caplog.records if "SG_MODEL_MAX_BATCH" in r.getMessage()]
        assert len(said) == 1 and "tyo" in said[0] and "toy=" not in said[0] and "its models: toy" in said[0]
        assert runtime.batchers["toy"].config.max_batch == 4
    finally:
        await runtime.stop()
