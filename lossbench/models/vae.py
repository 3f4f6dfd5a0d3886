"""The variational autoencoder (Kingma & Welling 2014): a Gaussian posterior N(mu, diag(exp(logvar)))
and a standard normal prior. In training mode z is sampled by reparameterisation; in eval mode
z = mu, so reconstruction metrics are deterministic."""

from __future__ import annotations

import torch
from torch import nn

from lossbench.models.ae import Autoencoder
from lossbench.models.nets import Decoder, Encoder


class VariationalAutoencoder(Autoencoder):
    variational = True

    def __init__(self, encoder: Encoder, decoder: Decoder, latent_dim: int, output: str = "linear"):
        super().__init__(encoder, decoder, latent_dim, output)
        self.head = nn.Linear(encoder.out_features, 2 * latent_dim)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.head(self.encoder(x)).chunk(2, dim=1)
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        else:
            z = mu
        return {"mu": mu, "logvar": logvar, "z": z}

