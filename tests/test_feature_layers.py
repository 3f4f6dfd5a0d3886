"""Issue 40 §1: the perceptual term reads the layers its spec names, derived from the network's own modules. The
domain classifier's `fc` sat at a hand-written index past the body's end, so `perceptual` with `network: domain`
silently compared conv1 and conv2 alone (and `layers: [fc]` compared nothing)."""

from __future__ import annotations

import pytest
import torch

from lossbench.metrics.domain import DomainNet
from lossbench.metrics.feature_layers import DomainLayers, named_layers
from lossbench.metrics.features import FEATURE_NETS


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DomainNet(1, (28, 28), 10).eval()


def test_the_registry_lists_exactly_the_layers_the_network_has(net):
    assert tuple(named_layers(net.body)) == FEATURE_NETS["domain"].layers == ("conv1", "conv2", "fc")


@pytest.mark.parametrize("layers, shapes", [
    (["conv1", "conv2", "fc"], [(4, 32, 28, 28), (4, 64, 14, 14), (4, 128, 1, 1)]),
    (["fc"], [(4, 128, 1, 1)]),
    (["conv1", "fc"], [(4, 32, 28, 28), (4, 128, 1, 1)]),
    (["conv2"], [(4, 64, 14, 14)]),
])
def test_each_named_layer_yields_its_activation(net, layers, shapes):
    x = torch.rand(4, 1, 28, 28)
    got = DomainLayers(net, layers)(x)
    assert [tuple(t.shape) for t in got] == shapes
    # and it is that layer's activation: the output of the ReLU after it, computed here by hand
    h1 = torch.relu(net.body[0](x))
    h2 = torch.relu(net.body[3](net.body[2](h1)))
    fc = torch.relu(net.body[7](net.body[6](net.body[5](h2))))
    expected = {"conv1": h1, "conv2": h2, "fc": fc[:, :, None, None]}
    for name, tensor in zip([n for n in ("conv1", "conv2", "fc") if n in layers], got):
        assert torch.allclose(tensor, expected[name], atol=1e-6), name


def test_a_layer_the_network_lacks_is_refused_not_skipped(net):
    from lossbench.core.errors import LossbenchError

    with pytest.raises(LossbenchError, match="has no layer fc2"):
        DomainLayers(net, ["conv1", "fc2"])


def test_the_domain_term_changes_with_fc(net):
    """The default layers include fc, and fc moves the distance: a term that silently dropped it would not."""
    from lossbench.losses.perceptual import Perceptual
    from lossbench.losses.specs import PerceptualSpec

    x, x_hat = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    both = Perceptual(PerceptualSpec(term="perceptual", network="domain", layers=["conv1", "conv2"]),
                      DomainLayers(net, ["conv1", "conv2"]))
    default = Perceptual(PerceptualSpec(term="perceptual", network="domain"), DomainLayers(net, FEATURE_NETS["domain"].default_layers))
    fc_only = Perceptual(PerceptualSpec(term="perceptual", network="domain", layers=["fc"]), DomainLayers(net, ["fc"]))
    a, b, c = (t.values({"x_hat": x_hat}, x) for t in (both, default, fc_only))
    assert torch.all(c > 0)  # fc alone compares something
    assert torch.allclose(b, (2 * a + c) / 3, atol=1e-5)  # the mean over three layers, fc one of them
