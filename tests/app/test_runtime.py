"""The runtime's parts built from the settings: the gallery index configuration."""

from __future__ import annotations

import pytest

from app.runtime import index_config
from app.settings import Settings
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
