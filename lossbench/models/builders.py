"""The built-in models (the registry in lossbench.models names these): an encoder and decoder
body (lossbench.models.nets) inside an autoencoder or a VAE."""

from __future__ import annotations

from lossbench.models import ConvParams, MLPParams, OutputParams
from lossbench.models.ae import Autoencoder
from lossbench.models.nets import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from lossbench.models.vae import VariationalAutoencoder


def _mlp(cls, shape, p: MLPParams):
    return cls(MLPEncoder(shape, p.hidden), MLPDecoder(shape, p.hidden, p.latent_dim), p.latent_dim, _output(p))


def _conv(cls, shape, p: ConvParams):
    enc = ConvEncoder(shape, p.channels)
    return cls(enc, ConvDecoder(shape, p.channels, enc.sizes, p.latent_dim), p.latent_dim, _output(p))


def ae_mlp(shape, p: MLPParams):
    return _mlp(Autoencoder, shape, p)


def ae_conv(shape, p: ConvParams):
    return _conv(Autoencoder, shape, p)


def vae_mlp(shape, p: MLPParams):
    return _mlp(VariationalAutoencoder, shape, p)


def vae_conv(shape, p: ConvParams):
    return _conv(VariationalAutoencoder, shape, p)


def _output(p: OutputParams) -> str:
    # a model built outside a study (tests, the paradox judge's fakes) with output 'auto' has no
    # condition to resolve it from: linear, the choice under which no pixel loss saturates
    return "linear" if p.output == "auto" else p.output
