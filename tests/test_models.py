from __future__ import annotations

import pytest
import torch

from lossbench.models import MODELS, build_model


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 30, 17), (1, 64, 64)])
def test_any_size_and_channels_round_trip(name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape, {"latent_dim": 4})
    out = model(torch.rand(3, *shape))
    assert out["x_hat"].shape == (3, *shape) and out["logits"].shape == (3, *shape)
    assert 0 <= out["x_hat"].min() and out["x_hat"].max() <= 1
    assert out["z"].shape == (3, 4)
    if MODELS[name].variational:
        assert out["mu"].shape == out["logvar"].shape == (3, 4)


@pytest.mark.parametrize("name", ["vae-mlp", "vae-conv"])
def test_vae_samples_in_training_and_uses_the_mean_in_eval(name):
    torch.manual_seed(0)
    model = build_model(name, (1, 28, 28), {})
    x = torch.rand(2, 1, 28, 28)
    model.train()
    assert not torch.equal(model(x)["z"], model(x)["z"])
    model.eval()
    out = model(x)
    assert torch.equal(out["z"], out["mu"])
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 28, 28)


def test_decoder_last_layer_is_exposed():
    for name in MODELS:
        model = build_model(name, (1, 28, 28), {})
        assert isinstance(model.last_layer, torch.nn.Module) and model.last_layer.weight.requires_grad
