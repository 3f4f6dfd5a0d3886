"""The deterministic autoencoder: x -> z -> logits; x_hat = sigmoid(logits) in [0, 1]."""

from __future__ import annotations

import torch
from torch import nn


class Autoencoder(nn.Module):
    variational = False

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int):
        super().__init__()
        self.encoder, self.decoder, self.latent_dim = encoder, decoder, latent_dim
        self.head = nn.Linear(encoder.out_features, latent_dim)

    @property
    def last_layer(self) -> nn.Module:
        """The decoder's last layer (its weights anchor gradient-balancing diagnostics)."""
        return self.decoder.last

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"z": self.head(self.encoder(x))}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits; apply sigmoid for an image in [0, 1]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.encode(x)
        out["logits"] = self.decode(out["z"])
        out["x_hat"] = torch.sigmoid(out["logits"])
        return out
