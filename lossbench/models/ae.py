"""The deterministic autoencoder: x -> z -> decoder output -> image.

The decoder's output parameterisation is a model option (``output``):

- ``linear``: the decoder output *is* the reconstruction, unbounded while training; pixel,
  structural, perceptual and adversarial terms see it as it is, and evaluation and figures
  clamp it to the data range [0, 1].
- ``sigmoid``: the decoder output is a logit per pixel and the reconstruction is its sigmoid.
  Terms that need probabilities (``bce``) read the logits directly.

A saturating output is a harness choice, not a loss property: under L1 a sigmoid decoder is
driven to logits of -80 or less, where its gradient underflows, and the run "collapses" for a
reason that has nothing to do with L1 (see README, "Output parameterisation"). Studies resolve
``output: auto`` per condition: sigmoid where a term needs probabilities, linear otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lossbench.models.nets import Decoder, Encoder

OUTPUTS = ("sigmoid", "linear")


class Autoencoder(nn.Module):
    variational = False

    def __init__(self, encoder: Encoder, decoder: Decoder, latent_dim: int, output: str = "linear"):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)} (got {output!r})")
        self.encoder, self.decoder, self.latent_dim, self.output = encoder, decoder, latent_dim, output
        self.head: nn.Linear = nn.Linear(encoder.out_features, latent_dim)

    @property
    def last_layer(self) -> nn.Linear | nn.ConvTranspose2d:
        """The decoder's last layer (its weights anchor gradient-balancing diagnostics)."""
        return self.decoder.output_layer()

    @torch.no_grad()
    def init_output(self, channel_means: torch.Tensor) -> None:
        """Start the decoder's output bias at the training data's mean intensity per channel (its
        logit for a sigmoid output), so that the untrained decoder draws the mean image's grey
        level instead of 0.5 (sigmoid) or 0 (linear). Uses no random numbers."""
        means = channel_means.double().clamp(1e-3, 1 - 1e-3)
        values = torch.logit(means) if self.output == "sigmoid" else channel_means.double()
        bias = self.last_layer.bias
        if bias is None:
            raise ValueError("the decoder's last layer has no bias to initialise")
        per_channel = bias.view(len(values), -1)  # conv: (C,); fully connected: C*H*W in C, H, W order
        per_channel.copy_(values.to(bias.dtype)[:, None].expand_as(per_channel))

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"z": self.head(self.encoder(x))}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output: logits (``output: sigmoid``) or the unbounded image (``linear``)."""
        return self.decoder(z)

    def image(self, decoded: torch.Tensor) -> torch.Tensor:
        """The reconstruction the loss terms see: sigmoid of the logits, or the raw output (unbounded)."""
        return torch.sigmoid(decoded) if self.output == "sigmoid" else decoded

    def to_image(self, decoded: torch.Tensor) -> torch.Tensor:
        """An image in the data range [0, 1], for evaluation and figures (a linear output is clamped)."""
        return self.image(decoded).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.encode(x)
        out["decoded"] = self.decode(out["z"])
        out["x_hat"] = self.image(out["decoded"])
        if self.output == "sigmoid":
            out["logits"] = out["decoded"]
        return out


#: a sigmoid decoder whose mean |logit| exceeds this is saturated: 8-bit data needs at most
#: |logit(0.5 / 255)| = 6.2 to express any intensity, and at 3x that (18.7) the sigmoid's slope is
#: below 1e-8, so a term that trains through it (anything but bce) can no longer move the pixel
DATA_LOGIT = -math.log(0.5 / 255 / (1 - 0.5 / 255))
SATURATED_LOGIT = 3 * DATA_LOGIT


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Reconstructions of ``x`` in [0, 1] (eval mode: a VAE decodes its posterior mean; a linear
    output is clamped to the data range), float32 on the CPU."""
    was_training = model.training
    model.eval()
    parts = [model.to_image(model(x[i : i + batch_size].to(device))["decoded"]).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(parts)
