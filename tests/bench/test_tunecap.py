"""`python -m bench tune-cap`: the cap rule, and a real run on the tiny model whose cap the service then uses."""

import json
import shutil

import pytest

from bench.cli import main
from bench.tunecap import choose_cap, serving_section, write_serving
from modelcard import CardError, load_card


def test_choose_cap_takes_the_smallest_cap_within_the_tolerance_of_the_best():
    rates = {1: 100.0, 2: 118.0, 4: 126.0, 8: 124.0, 32: 108.0}
    assert choose_cap(rates) == 4
    assert choose_cap(rates, tolerance=0.07) == 2  # 118 is within 7 % of 126
    assert choose_cap({32: 90.0, 1: 90.0}) == 1  # a tie goes to the smaller batch
    with pytest.raises(ValueError, match="no rates"):
        choose_cap({})


def _measured(device="CPUExecutionProvider"):
    run = {"clients": 32, "gallery_size": 10000, "latency_ms": {"p99": 300.0}}
    return {
        "device": device,
        "raw": [{"batch": 1, "images_per_s": 150.0}, {"batch": 32, "images_per_s": 100.0}],
        "identify": [run | {"max_batch": 1, "req_per_s": 110.0}, run | {"max_batch": 32, "req_per_s": 90.0}],
    }


def test_serving_section_names_the_cap_with_each_rate_and_its_share_of_the_fastest_raw_rate():
    section = serving_section(_measured(), command="python -m bench tune-cap", results="r.json")
    assert section["cpu_max_batch"] == 1
    tuning = section["cpu_tuning"]
    assert tuning["identify_req_per_s"] == {"1": 110.0, "32": 90.0}
    assert tuning["of_raw"] == {"1": round(110 / 150, 3), "32": 0.6}
    assert (tuning["clients"], tuning["gallery_size"], tuning["results"]) == (32, 10000, "r.json")


def test_serving_section_refuses_runs_served_off_the_cpu():
    with pytest.raises(ValueError, match="CUDAExecutionProvider"):
        serving_section(_measured("CUDAExecutionProvider"), command="c", results="r")


def test_write_serving_keeps_the_rest_of_the_card_and_refuses_a_stale_onnx(tmp_path, models_dir):
    for suffix in (".json", ".onnx"):
        shutil.copy(models_dir / f"tiny{suffix}", tmp_path / f"tiny{suffix}")
    before = json.loads((tmp_path / "tiny.json").read_text())
    write_serving(tmp_path / "tiny.json", {"cpu_max_batch": 2})
    after = json.loads((tmp_path / "tiny.json").read_text())
    assert after == before | {"serving": {"cpu_max_batch": 2}}
    assert load_card(tmp_path / "tiny.json").serving["cpu_max_batch"] == 2
    (tmp_path / "tiny.onnx").write_bytes(b"another model")
    with pytest.raises(CardError, match="sha256"):
        write_serving(tmp_path / "tiny.json", {"cpu_max_batch": 4})
    assert json.loads((tmp_path / "tiny.json").read_text())["serving"] == {"cpu_max_batch": 2}


def test_tune_cap_measures_each_cap_over_http_and_writes_the_card(tmp_path, models_dir):
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    out = tmp_path / "tune.json"
    args = ["tune-cap", "--model", "tiny", "--models-dir", str(models), "--caps", "1,4", "--clients", "4"]
    args += ["--gallery-size", "100", "--identities", "5", "--duration", "1", "--warmup", "0.2"]
    args += ["--work-dir", str(tmp_path), "--out", str(out)]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["device"] == "CPUExecutionProvider" and [r["batch"] for r in doc["raw"]] == [1, 8, 32]
    runs = doc["identify"]
    assert [(r["max_batch"], r["clients"], r["errors"]) for r in runs] == [(1, 4, 0), (4, 4, 0)]
    assert runs[0]["mean_batch_size"] == 1.0  # the card's own cap was off: each run served its own
    assert all(r["req_per_s"] > 0 for r in runs)
    card = load_card(models / "tiny.json")
    assert card.serving == doc["serving"] and card.serving["cpu_max_batch"] in (1, 4)
    assert card.serving["cpu_tuning"]["results"] == str(out)
