"""Batches cut from tensors that already live on the training device.

The whole split is moved to the device once; each epoch draws a permutation there and
indexes it. No per-sample PIL conversion, no DataLoader workers: for datasets of MNIST's
size this is what makes an epoch fast (see benchmarks/).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class DeviceBatches:
    def __init__(self, x: torch.Tensor, batch_size: int, device: torch.device | str):
        self.x = x.to(device, non_blocking=True)
        self.batch_size = int(batch_size)

    def __len__(self) -> int:
        """Steps per epoch (the last batch may be smaller)."""
        return -(-self.x.shape[0] // self.batch_size)

    def epoch(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """One shuffled pass; the permutation comes from ``generator`` (a CPU generator, so
        the order is the same on every device for the same seed)."""
        for _, x in self.indexed_epoch(generator):
            yield x

    def order(self, generator: torch.Generator) -> torch.Tensor:
        """One epoch's permutation of the split, on the data's device."""
        return torch.randperm(self.x.shape[0], generator=generator).to(self.x.device)

    def indexed_epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The same pass as :meth:`epoch`, each batch with its positions in the split."""
        order = self.order(generator)
        for start in range(0, order.numel(), self.batch_size):
            index = order[start : start + self.batch_size]
            yield index, self.x.index_select(0, index)
