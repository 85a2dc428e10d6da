"""GET /models: each served model's threshold, input and what its card says it was trained and tested on."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


async def test_list_models_reads_each_bundled_card(helpers, settings_factory, tmp_path):
    models = tmp_path / "bundled"
    models.mkdir()
    for suffix in ("onnx", "json"):
        (models / f"defects.{suffix}").symlink_to(ROOT / "models" / f"defects.{suffix}")
    card = json.loads((ROOT / "models" / "defects.json").read_text())
    async with helpers.serving(settings_factory(models_dir=models)) as (_, client):
        response = await client.get("/models")
    assert response.status_code == 200
    (model,) = response.json()["models"]
    assert model["name"] == "defects" and model["face"] is False
    assert model["threshold"] == card["threshold"]["value"] and model["dim"] == card["embedding_dim"]
    assert (
        model["input"]
        == f"{card['input']['width']} x {card['input']['height']} x {card['input']['channels']}"
    )
    assert model["provider"] == "CPUExecutionProvider"
    assert model["trained_on"] == {
        "recipe": "defects",
        "sources": sorted(card["metrics"]["by_group"]),
        "classes": card["dataset"]["train"]["classes"],
        "images": card["dataset"]["train"]["images"],
    }
    assert model["test"]["roc_auc"] == card["metrics"]["verification"]["roc_auc"]
    assert model["test"]["top1"] == card["metrics"]["top1_5shot"] and model["test"]["top1_references"] == 5


async def test_list_models_without_card_figures_answers_nulls_sorted_by_name(client):
    models = (await client.get("/models")).json()["models"]
    assert [m["name"] for m in models] == ["faces", "toy"]
    assert models[0]["trained_on"] == {"recipe": None, "sources": [], "classes": None, "images": None}
    assert models[0]["test"]["top1"] is None and models[0]["encoder"] is None


async def test_list_models_needs_the_key_when_keys_are_set(helpers, settings_factory):
    async with helpers.serving(settings_factory(api_keys=("k",))) as (_, client):
        assert (await client.get("/models")).status_code == 401
        assert (await client.get("/models", headers={"X-API-Key": "k"})).status_code == 200


async def test_list_models_says_each_batch_cap_and_what_set_it(helpers, settings_factory, tmp_path):
    from tests.support.tiny_encoder import write_model

    models = tmp_path / "capped"
    models.mkdir()
    write_model(models, "carded", serving={"cpu_max_batch": 4})
    write_model(models, "plain", seed=1)
    write_model(models, "own", seed=2, serving={"cpu_max_batch": 4})
    settings = settings_factory(models_dir=models, max_batch=16, model_max_batch="own=2")
    async with helpers.serving(settings) as (app, client):
        listed = {m["name"]: m for m in (await client.get("/models")).json()["models"]}
        served = {name: batcher.config.max_batch for name, batcher in app.state.runtime.batchers.items()}
    assert {n: (m["max_batch"], m["max_batch_source"]) for n, m in listed.items()} == {
        "carded": (4, "card"),
        "own": (2, "SG_MODEL_MAX_BATCH"),
        "plain": (16, "SG_MAX_BATCH"),
    }
    assert served == {"carded": 4, "own": 2, "plain": 16}  # what /models says is what the batchers run
    async with helpers.serving(settings_factory(models_dir=models, card_batch_caps=False)) as (app, _):
        assert app.state.runtime.batchers["carded"].config.max_batch == 32
