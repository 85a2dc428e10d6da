"""Model cards: the JSON contract between `training/` (which writes them) and the service (which reads them).

A card sits beside each `models/<name>.onnx` and holds everything needed to preprocess an image and
interpret the embedding: input spec, embedding size, metric, tuned threshold, and how it was made.
"""

from modelcard.card import AlignSpec, CardError, InputSpec, ModelCard, Threshold, load_card, sha256_file
from modelcard.preprocess import preprocess

__all__ = [
    "AlignSpec",
    "CardError",
    "InputSpec",
    "ModelCard",
    "Threshold",
    "load_card",
    "preprocess",
    "sha256_file",
]
