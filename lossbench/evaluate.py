"""Metrics on reconstructions of the held-out split."""

from __future__ import annotations

import pandas as pd
import torch

from lossbench.metrics import METRICS


@torch.no_grad()
def reconstruct(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Reconstructions of ``x`` (eval mode: a VAE decodes its posterior mean), float32 on the CPU."""
    was_training = model.training
    model.eval()
    parts = [model(x[i : i + batch_size].to(device))["x_hat"].float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(parts)


def evaluate(model: torch.nn.Module, test_x: torch.Tensor, metrics: list[str], batch_size: int,
             device: torch.device) -> tuple[dict[str, float], pd.DataFrame]:
    """Mean of each metric over the test split, and the per-image values (index = test image)."""
    recon = reconstruct(model, test_x, batch_size, device)
    per_image = pd.DataFrame({name: METRICS[name].fn(recon, test_x.cpu()).numpy() for name in metrics})
    per_image.index.name = "image"
    return {name: float(per_image[name].mean()) for name in metrics}, per_image
