from __future__ import annotations

import pytest
import torch

from lossbench.models import MODELS, build_model


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 30, 17), (1, 64, 64)])
def test_any_size_and_channels_round_trip(name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape, {"latent_dim": 4, "output": "sigmoid"})
    out = model(torch.rand(3, *shape))
    assert out["x_hat"].shape == (3, *shape) and out["logits"].shape == (3, *shape)
    assert 0 <= out["x_hat"].min() and out["x_hat"].max() <= 1
    assert out["z"].shape == (3, 4)
    if MODELS[name].variational:
        assert out["mu"].shape == out["logvar"].shape == (3, 4)


@pytest.mark.parametrize("name", list(MODELS))
def test_linear_output_is_unbounded_in_training_and_clamped_for_images(name):
    torch.manual_seed(0)
    model = build_model(name, (1, 28, 28), {"latent_dim": 4, "output": "linear"})
    with torch.no_grad():
        model.decoder.last.bias.fill_(3.0)  # far above the data range
    out = model(torch.rand(2, 1, 28, 28))
    assert "logits" not in out and torch.equal(out["x_hat"], out["decoded"])
    assert out["x_hat"].max() > 1
    image = model.to_image(out["decoded"])
    assert image.min() >= 0 and image.max() == 1


def test_output_auto_outside_a_study_is_linear():
    assert build_model("ae-mlp", (1, 28, 28), {}).output == "linear"


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_output_bias_starts_at_the_data_mean(name, output):
    """An untrained decoder whose other weights are zero draws the data's mean grey level."""
    means = torch.tensor([0.13])
    model = build_model(name, (1, 28, 28), {"output": output}, channel_means=means)
    with torch.no_grad():
        model.decoder.last.weight.zero_()
    image = model.to_image(model.decode(torch.zeros(1, model.latent_dim)))
    assert torch.allclose(image, torch.full_like(image, 0.13), atol=1e-6)


def test_output_bias_per_channel_for_rgb():
    means = torch.tensor([0.2, 0.5, 0.7])
    for name in ("ae-mlp", "ae-conv"):
        model = build_model(name, (3, 8, 8), {"output": "linear"}, channel_means=means)
        with torch.no_grad():
            model.decoder.last.weight.zero_()
        image = model.to_image(model.decode(torch.zeros(1, model.latent_dim)))
        assert torch.allclose(image.mean((0, 2, 3)), means, atol=1e-6) and torch.allclose(image.std((0, 2, 3)), torch.zeros(3))


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


def test_decoder_last_layer_is_exposed():
    for name in MODELS:
        model = build_model(name, (1, 28, 28), {})
        assert isinstance(model.last_layer, torch.nn.Module) and model.last_layer.weight.requires_grad
