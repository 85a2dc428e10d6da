"""The `training.metrics` package gathers every metric function under one import."""

import training.metrics as metrics
from training.metrics import distances, fewshot, identification, verification


def test_metrics_exports_each_function_from_its_module():
    modules = (distances, fewshot, identification, verification)
    homes = {name: m for m in modules for name in dir(m) if not name.startswith("_")}
    assert len(metrics.__all__) == 11
    for name in metrics.__all__:
        assert getattr(metrics, name) is getattr(homes[name], name)
