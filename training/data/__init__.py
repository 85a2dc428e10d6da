"""Datasets as lists of `Record`s: loaders, splits, augmentation, samplers and the torch dataset.

Submodules: `folder`, `omniglot`, `mnist` (loaders), `splits`, `augment`, `samplers`, `dataset` (torch).
Only `records` is imported here, so importing the package stays light.
"""

from training.data.records import Record, open_image

__all__ = ["Record", "open_image"]
