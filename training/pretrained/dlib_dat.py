"""Read the layers of a dlib DNN `.dat` file (dlib's own serialization) into numpy arrays.

The format is defined by dlib's headers (`dlib/serialize.h`, `dlib/cuda/tensor.h`, `dlib/dnn/layers.h`,
`dlib/dnn/core.h`): a network is written input layer first, each layer as a version string followed by its
fields. This reader finds each parameterised layer by its version string and parses its fields exactly as
dlib's `deserialize` does; `bn_con2` layers are folded into the affine form dlib itself uses at inference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# Version strings of the layers that carry parameters, as dlib writes them.
LAYER_VERSIONS = ("con_4", "con_5", "bn_con2", "affine_", "affine_2", "fc_2", "fc_3")
_TAG = re.compile(b"|".join(b"\x01" + bytes([len(v)]) + re.escape(v.encode()) for v in LAYER_VERSIONS))


class DatError(ValueError):
    """The file is not a dlib DNN file this reader understands."""


@dataclass
class DlibLayer:
    """One parameterised layer: its kind ("con", "affine" or "fc") and its arrays."""

    kind: str
    arrays: dict[str, np.ndarray]
    info: dict[str, float | int] = field(default_factory=dict)


class _Stream:
    """dlib's primitives: packed integers, floats as (mantissa, exponent), strings, bools, tensors."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DatError(f"unexpected end of file at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise DatError(f"bad integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:  # dlib's is_inf / is_ninf / is_nan markers
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(float(mantissa), exponent))

    def string(self) -> str:
        return self._take(self.int()).decode("ascii")

    def bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise DatError(f"bad bool {ch!r} at byte {self.pos - 1}")
        return ch == b"1"

    def tensor(self) -> np.ndarray:
        if (version := self.int()) != 2:
            raise DatError(f"tensor version {version} at byte {self.pos}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if (version := self.int()) != 1:
            raise DatError(f"alias tensor version {version} at byte {self.pos}, expected 1")
        return tuple(self.int() for _ in range(4))


def _con(s: _Stream, version: str) -> DlibLayer:
    params = s.tensor().ravel()
    num_filters, nr, nc, stride_y, stride_x = (s.int() for _ in range(5))
    padding_y, padding_x = s.int(), s.int()
    filters, biases = s.alias(), s.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.float()
    use_bias = s.bool() if version == "con_5" else True
    n_weights = int(np.prod(filters))
    if params.size != n_weights + int(np.prod(biases)) or filters[0] != num_filters:
        raise DatError(f"con layer: params {params.size} do not match filters {filters} + biases {biases}")
    arrays = {"weight": params[:n_weights].reshape(filters)}
    if use_bias:
        arrays["bias"] = params[n_weights:]
    info = {"stride": stride_y, "stride_x": stride_x, "padding": padding_y, "padding_x": padding_x}
    return DlibLayer("con", arrays, info | {"kernel": nr, "kernel_x": nc})


def _affine(s: _Stream, version: str) -> DlibLayer:
    params = s.tensor().ravel()
    gamma, _beta = s.alias(), s.alias()
    s.int()  # layer mode
    if version == "affine_2":
        s.bool()  # disabled
    n = int(np.prod(gamma))
    return DlibLayer("affine", {"scale": params[:n], "shift": params[n:]})


def _batch_norm(s: _Stream) -> DlibLayer:
    """bn_con2 read and folded to affine: scale = gamma / sqrt(var + eps), shift = beta - scale * mean."""
    params = s.tensor().ravel()
    gamma, _beta = s.alias(), s.alias()
    s.tensor(), s.tensor()  # batch statistics of the last training step
    running_mean, running_var = s.tensor().ravel(), s.tensor().ravel()
    s.int(), s.int()  # num_updates, running_stats_window_size
    for _ in range(4):
        s.float()
    eps = s.float()
    n = int(np.prod(gamma))
    scale = params[:n] / np.sqrt(running_var + eps)
    shift = params[n:] - scale * running_mean
    return DlibLayer("affine", {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)})


def _fc(s: _Stream, version: str) -> DlibLayer:
    num_outputs, num_inputs = s.int(), s.int()
    params = s.tensor().reshape(-1, num_outputs)  # (num_inputs [+1 bias row], num_outputs): out = x @ W
    s.alias(), s.alias()
    has_bias = s.int() == 0  # dlib's FC_HAS_BIAS is 0, FC_NO_BIAS 1
    for _ in range(4):
        s.float()
    if version == "fc_3":
        s.bool()
    arrays = {"weight": np.ascontiguousarray(params[:num_inputs].T)}
    if has_bias:
        arrays["bias"] = params[num_inputs]
    return DlibLayer("fc", arrays)


def read_layers(data: bytes) -> list[DlibLayer]:
    """Every parameterised layer of a dlib DNN file, input side first."""
    layers, pos = [], 0
    while match := _TAG.search(data, pos):
        s = _Stream(data, match.start())
        version = s.string()
        if version.startswith("con_"):
            layers.append(_con(s, version))
        elif version == "bn_con2":
            layers.append(_batch_norm(s))
        elif version.startswith("affine_"):
            layers.append(_affine(s, version))
        else:
            layers.append(_fc(s, version))
        pos = s.pos
    if not layers:
        raise DatError("no dlib DNN layers found")
    return layers


def read_dat(path: str) -> list[DlibLayer]:
    """`read_layers` of a file on disk."""
    with open(path, "rb") as fh:
        return read_layers(fh.read())


def describe(layers: list[DlibLayer]) -> list[str]:
    """One line per layer: kind and array shapes (for logs and errors)."""
    return [
        f"{layer.kind} " + " ".join(f"{k}{tuple(v.shape)}" for k, v in layer.arrays.items())
        for layer in layers
    ]


__all__ = ["DatError", "DlibLayer", "describe", "read_dat", "read_layers"]
