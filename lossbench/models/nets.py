"""Encoder and decoder bodies shared by the AE and the VAE: a fully connected pair and a
convolutional pair. Both take any image size and channel count."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """An encoder body: images to a flat vector of ``out_features`` (the code's head follows)."""

    out_features: int


class Decoder(nn.Module):
    """A decoder body: codes to images; :meth:`output_layer` is its last layer (its bias is
    initialised to the data's mean, its weight anchors the adaptive adversarial weight)."""

    def output_layer(self) -> nn.Linear | nn.ConvTranspose2d:
        raise NotImplementedError


class MLPEncoder(Encoder):
    def __init__(self, shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = shape[0] * shape[1] * shape[2]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(Decoder):
    def __init__(self, shape: tuple[int, int, int], hidden: list[int], latent_dim: int):
        super().__init__()
        self.shape = shape
        layers: list[nn.Module] = []
        width = latent_dim
        for h in reversed(hidden):
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.last = nn.Linear(width, shape[0] * shape[1] * shape[2])

    def output_layer(self) -> nn.Linear:
        return self.last

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.last(self.body(z)).view(-1, *self.shape)


class ConvEncoder(Encoder):
    """Stride-2 3×3 convolutions, each halving the side (rounding up), then flatten."""

    def __init__(self, shape: tuple[int, int, int], channels: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        c, h, w = shape
        self.sizes = [(h, w)]  # spatial size before each conv, read by the decoder
        for k, out in enumerate(channels):
            if min(h, w) < 2:  # a stride-2 convolution of a 1-pixel map halves nothing: the stack is too deep
                raise ValueError(f"channels: {len(channels)} stride-2 layers, but {k} already bring {shape[1]}x{shape[2]} "
                                 f"images down to {h}x{w}; use at most {k} layers for this image size")
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.ReLU()]
            c, h, w = out, (h + 1) // 2, (w + 1) // 2
            self.sizes.append((h, w))
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = c * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(Decoder):
    """Mirror of :class:`ConvEncoder`; transposed convolutions are told the exact output size,
    so odd sides (e.g. 28 -> 14 -> 7 -> 14 -> 28, or 30 -> 15 -> 8 -> 15 -> 30) come back exactly."""

    def __init__(self, shape: tuple[int, int, int], channels: list[int], sizes: list[tuple[int, int]], latent_dim: int):
        super().__init__()
        self.start = (channels[-1], *sizes[-1])
        self.fc = nn.Linear(latent_dim, channels[-1] * sizes[-1][0] * sizes[-1][1])
        outs = list(reversed(channels[:-1])) + [shape[0]]
        ins = list(reversed(channels))
        self.targets = list(reversed(sizes[:-1]))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(i, o, 3, stride=2, padding=1) for i, o in zip(ins, outs))

    @property
    def last(self) -> nn.Module:
        return self.ups[-1]

    def output_layer(self) -> nn.ConvTranspose2d:
        last = self.ups[-1]
        assert isinstance(last, nn.ConvTranspose2d)
        return last

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(z)).view(-1, *self.start)
        for i, (up, size) in enumerate(zip(self.ups, self.targets)):
            h = up(h, output_size=size)
            if i < len(self.ups) - 1:
                h = torch.relu(h)
        return h
