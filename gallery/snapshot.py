"""Index snapshots: `faiss.write_index` beside a sidecar JSON (build params, rows, the store's max id and the
index file's sha256).

A snapshot is a cache of the store, never the truth: it is written whole and fsynced before its sidecar,
and `read_snapshot` returns None (the caller rebuilds) for anything missing, unreadable or inconsistent: a
file whose sha256 is not the sidecar's (a garbled id map, a vector overwritten), an id held twice, or a vector
that is not finite and of unit norm.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from gallery.config import IndexConfig
from gallery.durable import replace_durably
from gallery.index import VectorIndex
from gallery.integrity import bad_rows, file_sha256
from gallery.rollback import record_path

FORMAT = 2  # 2: the sidecar holds the index file's sha256; a format-1 snapshot is rebuilt once
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    index: VectorIndex
    rows: int  # live references in the index
    max_reference_id: int  # the store's largest reference id when it was written
    stamp: dict[str, Any]  # which store it belongs to


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def snapshot_files(path: Path) -> list[Path]:
    """The snapshot, its sidecar and a rollback record (`gallery.rollback`): what goes with the gallery."""
    return [path, sidecar_path(path), record_path(path)]


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar's body (what the snapshot recorded of the store), even when its index file is unusable;
    None when missing, unreadable or of another format."""
    try:
        body = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("format") == FORMAT else None


def write_snapshot(path: Path, index: VectorIndex, *, max_reference_id: int, stamp: dict[str, Any]) -> None:
    """Replace any snapshot at `path`; the sidecar goes last, so a torn write is never taken as valid."""
    sidecar = sidecar_path(path)
    sidecar.unlink(missing_ok=True)
    replace_durably(path, lambda tmp: faiss.write_index(index.faiss_index, str(tmp)))
    body = {
        "format": FORMAT,
        "kind": index.kind,
        "dim": index.dim,
        "build": index.config.build_params(),
        "ntotal": int(index.faiss_index.ntotal),
        "rows": index.ntotal,
        "max_reference_id": int(max_reference_id),
        "tombstones": sorted(index.tombstones),
        "sha256": file_sha256(path),
        "stamp": stamp,
        "faiss_version": faiss.__version__,
    }
    replace_durably(sidecar, lambda tmp: tmp.write_text(json.dumps(body)))


def read_snapshot(path: Path, *, dim: int, config: IndexConfig) -> Snapshot | None:
    """The snapshot at `path` if it is readable and was built with `config`'s parameters, else None."""
    try:
        body = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError) as exc:
        log.info("no usable snapshot sidecar for %s: %s", path.name, exc)
        return None
    reason = _sidecar_mismatch(body, dim=dim, config=config)
    if reason is None:
        try:
            return _load(path, body, dim=dim, config=config)
        except (RuntimeError, OSError, ValueError, KeyError, TypeError) as exc:
            reason = f"unreadable: {exc}"
    log.info("snapshot %s not used: %s", path.name, reason)
    return None


def _sidecar_mismatch(body: Any, *, dim: int, config: IndexConfig) -> str | None:
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return "unknown sidecar format"
    if body.get("dim") != dim:
        return f"dimension {body.get('dim')} != {dim}"
    if body.get("kind") == "hnsw" and body.get("build") != config.build_params():
        return f"built with {body.get('build')}, configured {config.build_params()}"
    return None


def _load(path: Path, body: dict[str, Any], *, dim: int, config: IndexConfig) -> Snapshot | None:
    if file_sha256(path) != body["sha256"]:
        raise ValueError("index file's sha256 is not the one its sidecar recorded")
    raw = faiss.read_index(str(path))
    if not isinstance(raw, faiss.IndexIDMap2) or raw.d != dim or raw.ntotal != body["ntotal"]:
        raise ValueError("index file does not match its sidecar")
    inner = faiss.downcast_index(raw.index)
    expected = faiss.IndexHNSWFlat if body["kind"] == "hnsw" else faiss.IndexFlatIP
    if not isinstance(inner, expected) or inner.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError(f"index file holds {type(inner).__name__}, sidecar says {body['kind']}")
    if body["kind"] == "hnsw":
        inner.hnsw.efSearch = config.ef_search
    index = VectorIndex(dim, config=config, kind=body["kind"], index=raw)
    _check_contents(index)
    index.restore_tombstones(np.asarray(body["tombstones"], dtype=np.int64))
    if index.ntotal != body["rows"]:
        raise ValueError(f"{index.ntotal} live rows, sidecar says {body['rows']}")
    return Snapshot(index, int(body["rows"]), int(body["max_reference_id"]), dict(body["stamp"]))


def _check_contents(index: VectorIndex) -> None:
    """ValueError unless every id is held once and every vector is finite and of unit norm."""
    ids = np.sort(faiss.vector_to_array(index.faiss_index.id_map))  # ids are added ascending: a quick sort
    if (ids[1:] == ids[:-1]).any():
        raise ValueError("index file holds a reference id twice")
    for chunk_ids, vectors in index.stored():
        bad = bad_rows(vectors)
        if bad.any():
            raise ValueError(f"references {chunk_ids[bad][:10].tolist()} hold vectors not of unit norm")
