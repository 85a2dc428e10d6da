"""What a card says about serving its model: the batch cap that measured fastest on a CPU (pure, no I/O).

A card's `serving` section is written by `python -m bench tune-cap` from identify runs at several caps on the
machine it names; the service applies `cpu_max_batch` to a model it runs on the CPU, unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CPU_PROVIDER = "CPUExecutionProvider"


class ServingError(ValueError):
    """A card's serving section is malformed."""


def cpu_batch_cap(serving: Mapping[str, Any]) -> int | None:
    """The card's batch cap for CPU serving; None when it names none."""
    if not isinstance(serving, Mapping):
        raise ServingError(f"serving must be an object, got {type(serving).__name__}")
    value = serving.get("cpu_max_batch")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ServingError(f"serving.cpu_max_batch must be an integer >= 1, got {value!r}")
    return value


def card_batch_cap(serving: Mapping[str, Any], *, provider: str) -> int | None:
    """The card's cap for a model served on `provider`: its CPU cap on the CPU, nothing elsewhere (a GPU's
    fastest batches are its largest)."""
    return cpu_batch_cap(serving) if provider == CPU_PROVIDER else None
