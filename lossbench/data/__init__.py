"""Datasets by name, and device-resident batching.

``load_dataset(spec)`` returns an :class:`ImageData`: float32 tensors N×C×H×W in [0, 1]
for a train and a test split, labels where the source has them, and an identity record
(name, source, split sizes, checksum) that goes into the study manifest.
"""

from lossbench.data.registry import DATASETS, ImageData, load_dataset
from lossbench.core.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {"DeviceBatches": "lossbench.data.batching:DeviceBatches"})  # torch: when first used

__all__ = ["DATASETS", "DeviceBatches", "ImageData", "load_dataset"]
