"""End to end: `python -m bench run` against the real service on a tiny model, then `bench report`."""

import json
from pathlib import Path

import pytest

from bench.cli import build_parser, config_from, default_name, int_list, main
from bench.scenarios import BenchConfig, service_config

RUN_KEYS = {
    "clients",
    "gallery_size",
    "requests",
    "errors",
    "status_counts",
    "elapsed_s",
    "req_per_s",
    "images_per_s",
    "latency_ms",
    "mean_batch_size",
    "server_mean_ms",
    "server_cpu_ms_per_request",
    "load_cpu_ms_per_request",
    "startup_s",
    "probe_accuracy",
}


def test_int_list_parses_commas():
    assert int_list("1,8, 32") == (1, 8, 32)


def test_int_list_empty_raises_value_error():
    with pytest.raises(ValueError, match="comma-separated"):
        int_list(",")


def test_default_name_separates_batching_on_and_off(models_dir):
    on = BenchConfig(scenario="identify", models_dir=models_dir, max_batch=32)
    off = BenchConfig(scenario="identify", models_dir=models_dir, max_batch=1)
    assert (default_name(on), default_name(off)) == ("identify-maxbatch32.json", "identify-maxbatch1.json")


@pytest.mark.parametrize(("flags", "value"), [([], "True"), (["--no-identify-hot-path"], "False")])
def test_on_off_service_settings_take_a_flag_pair_and_reach_the_service(models_dir, flags, value):
    args = build_parser().parse_args(
        ["run", "--scenario", "identify", "--models-dir", str(models_dir), *flags]
    )
    service = service_config(config_from(args, scenario="identify"), Path("data"))
    assert service.env(port=1, api_key="k")["SG_IDENTIFY_HOT_PATH"] == value


def test_bench_config_unknown_scenario_raises_value_error(models_dir):
    with pytest.raises(ValueError, match="scenario must be one of"):
        BenchConfig(scenario="stress", models_dir=models_dir)


def test_run_identify_tiny_writes_json_and_report(tmp_path, models_dir, capsys):
    results = tmp_path / "results"
    args = [
        "run",
        "--scenario",
        "identify",
        "--model",
        "tiny",
        "--clients",
        "2",
        "--gallery-sizes",
        "100",
        "--duration",
        "2",
        "--warmup",
        "0.5",
        "--identities",
        "5",
        "--device",
        "cpu",
    ]
    args += [
        "--models-dir",
        str(models_dir),
        "--work-dir",
        str(tmp_path),
        "--out",
        str(results / "identify.json"),
    ]
    assert main(args) == 0
    doc = json.loads((results / "identify.json").read_text())
    assert doc["scenario"] == "identify" and doc["device"] == "CPUExecutionProvider"
    assert doc["config"]["max_batch"] >= 1 and doc["machine"]["cores"] >= 1
    (run,) = doc["runs"]
    assert set(run) >= RUN_KEYS and set(run["latency_ms"]) >= {"p50", "p95", "p99"}
    assert (run["clients"], run["gallery_size"], run["errors"]) == (2, 100, 0)
    assert run["requests"] > 0 and run["images_per_s"] > 0 and run["mean_batch_size"] >= 1
    assert run["probe_accuracy"] == 1.0  # each probe's nearest identity is its own
    assert (run["max_batch"], run["max_batch_source"]) == (doc["config"]["max_batch"], "SG_MAX_BATCH")
    assert run["server_cpu_ms_per_request"] > 0 and run["load_cpu_ms_per_request"] > 0
    assert "### identify" in capsys.readouterr().out
    results_md = tmp_path / "RESULTS.md"
    assert main(["report", "--results-dir", str(results), "--results-md", str(results_md)]) == 0
    text = results_md.read_text()
    assert f"| {doc['config']['max_batch']} | 100 | model | 2 |" in text
    assert (results / "identify.png").stat().st_size > 0 and "(results/identify.png)" in text


def test_run_startup_tiny_reports_ready_then_the_graph_built_in_the_background(tmp_path, models_dir):
    out = tmp_path / "startup.json"
    args = ["run", "--scenario", "startup", "--model", "tiny", "--gallery-sizes", "300", "--identities", "5"]
    args += ["--ann-min-size", "100", "--index-background-build-min", "100", "--device", "cpu"]
    args += ["--models-dir", str(models_dir), "--work-dir", str(tmp_path), "--out", str(out)]
    assert main(args) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["gallery_size"] == 300
    assert run["startup_index"] in ("flat", "hnsw")  # exact until the graph is in: a race at 300 references
    assert (run["index"], run["restart_index"]) == ("hnsw", "hnsw")
    assert 0 < run["startup_s"] <= run["index_built_s"] and run["restart_s"] > 0


def test_run_ceiling_tiny_serves_identify_with_the_null_encoder(tmp_path, models_dir):
    out = tmp_path / "ceiling.json"
    args = ["run", "--scenario", "ceiling", "--model", "tiny", "--clients", "2", "--gallery-sizes", "100"]
    args += ["--duration", "1", "--warmup", "0", "--identities", "5", "--device", "cpu"]
    args += ["--models-dir", str(models_dir), "--work-dir", str(tmp_path), "--out", str(out)]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    (run,) = doc["runs"]
    assert doc["scenario"] == "ceiling" and run["errors"] == 0 and run["requests"] > 0
    assert run["gallery_size"] == 100 and run["mean_batch_size"] >= 1
