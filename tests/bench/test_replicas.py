"""The replica benchmark end to end, small: two real service processes on a real PostgreSQL (skipped, saying
why, without one), throughput with one and two replicas, enroll-to-visible rounds, and SIGKILL during bulk
enrolls with nothing acknowledged lost and the killed replica caught up after its restart."""

from __future__ import annotations

from pathlib import Path

from bench.replicas import build_parser, run

ROOT = Path(__file__).resolve().parents[2]


def test_two_replicas_measure_throughput_visibility_and_a_kill(postgres_url):
    args = build_parser().parse_args(
        [
            "--models-dir", str(ROOT / "models"), "--model", "defects", "--identities", "3",
            "--per-identity", "10", "--replicas", "2", "--clients", "2", "--duration", "1",
            "--rounds", "3", "--bulk-enrolls", "8", "--database-url", postgres_url,
        ]
    )  # fmt: skip
    result = run(args)
    assert [t["replicas"] for t in result["throughput"]] == [1, 2]
    assert all(t["errors"] == 0 and t["req_per_s"] > 0 for t in result["throughput"])
    visibility = result["visibility"]
    assert visibility["rounds"] == 3 and visibility["visible_ms"]["max"] < 5000
    kill = result["kill"]
    assert 2 <= kill["acknowledged"] < 8, "the kill should land in the middle of the bulk enrolls"
    assert kill["acknowledged_missing"] == 0 and kill["survivor_identify_right"]
    assert kill["survivor_indexed"] == kill["survivor_stored"] >= 3 + 8 * kill["acknowledged"]
    assert kill["restart_replication"]["listening"] and kill["restart_replication"]["behind_changes"] == 0
