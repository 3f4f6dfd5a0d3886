"""Datasets by name, and device-resident batching.

``load_dataset(spec)`` returns an :class:`ImageData`: float32 tensors N×C×H×W in [0, 1]
for a train and a test split, labels where the source has them, and an identity record
(name, source, split sizes, checksum) that goes into the study manifest.
"""

from lossbench.data.batching import DeviceBatches
from lossbench.data.registry import DATASETS, ImageData, load_dataset

__all__ = ["DATASETS", "DeviceBatches", "ImageData", "load_dataset"]
