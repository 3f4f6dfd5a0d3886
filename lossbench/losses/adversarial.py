"""The adversarial term: a discriminator judges whole reconstructions, and the autoencoder is
trained to fool it (Goodfellow et al. 2014; as a reconstruction loss: Larsen et al. 2016,
Esser et al. 2021 "taming transformers", Rombach et al. 2022 "latent diffusion").

The term owns its discriminator and the discriminator's optimizer. Training alternates inside
the same loop (``lossbench.train.train_epoch``): the autoencoder steps on the total loss with
the discriminator frozen, then :meth:`Adversarial.critic_step` updates the discriminator on the
batch's real images and the (detached) reconstructions of that same step. Before ``start`` the
term is off and its discriminator does not train either (as taming-transformers' ``disc_start``
switches off both the generator's and the discriminator's loss).

Written here rather than taken from a library: the losses are three lines each, and no
maintained package offers a discriminator that composes with an arbitrary autoencoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lossbench.core.flags import Flag, longest_run
from lossbench.losses.base import Critic
from lossbench.losses.specs import AdversarialSpec  # noqa: F401

#: clamp of the adaptive weight, as in taming-transformers' VQLPIPSWithDiscriminator
ADAPTIVE_MAX = 1e4
ADAPTIVE_EPS = 1e-4


class Discriminator(nn.Module):
    """Stride-2 4×4 convolutions with LeakyReLU(0.2). ``patch`` ends with a stride-1 4×4
    convolution to one channel: a map of patch scores. ``global`` ends with a linear layer on
    the flattened features: one score per image. Inputs in [0, 1] are mapped to [-1, 1]."""

    def __init__(self, shape: tuple[int, int, int], kind: str, channels: int, layers: int, spectral: bool = False):
        super().__init__()
        c, h, w = shape
        body: list[nn.Module] = []
        width = channels
        for _i in range(layers):
            body += [nn.Conv2d(c, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c, h, w = width, h // 2, w // 2
            width *= 2
        if min(h, w) < 1:
            raise ValueError(f"a {layers}-layer discriminator needs images of at least {2 ** layers} px per side")
        self.body = nn.Sequential(*body)
        self.head: nn.Module
        if kind == "patch":
            self.head = nn.Conv2d(c, 1, 4, stride=1, padding=1 if min(h, w) >= 3 else 2)
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 1))
        if spectral:  # every layer with a weight: W / sigma_max(W), one power iteration per forward pass
            for module in list(self.modules()):
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores, shape N × (number of patches)."""
        return self.head(self.body(x * 2 - 1)).flatten(1)


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Per-score loss of the autoencoder (the generator) on scores of its reconstructions."""
    if kind in ("hinge", "wasserstein"):
        return -fake
    if kind == "non-saturating":
        return F.softplus(-fake)  # -log sigmoid(D(x_hat))
    return (fake - 1).square()  # least squares, targets real = 1, fake = 0 (Mao et al. 2017)


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean discriminator loss on scores of real images and of reconstructions."""
    if kind == "hinge":
        return 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    if kind == "wasserstein":  # the critic's estimate of -W1 (its Lipschitz bound comes from a penalty or spectral norm)
        return fake.mean() - real.mean()
    if kind == "non-saturating":
        return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())
    return 0.5 * ((real - 1).square().mean() + fake.square().mean())


def threshold(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | float:
    """The score above which the discriminator calls an image (or patch) real. A Wasserstein
    critic's scores have no fixed level (only differences count): its threshold is the midpoint
    of the batch's mean real and mean reconstructed score."""
    if kind == "wasserstein":
        return (real.mean() + fake.mean()) / 2
    return 0.5 if kind == "least-squares" else 0.0


def gradient_penalty(kind: str, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean over images of |grad_x D(x)|^2 / 2 at real images, or the
    WGAN-GP term (Gulrajani et al. 2017): mean of (|grad_x D(x)| - 1)^2 at x = e*real + (1-e)*fake,
    e ~ U(0, 1) per image. D(x): the image's score (the mean of its patch scores); x in [0, 1].
    Not taken from a library: torch has no such penalty, and the GAN libraries that do
    (e.g. torchgan) bring their own trainers. Unweighted; the caller multiplies."""
    if kind == "r1":
        x = real.detach().requires_grad_(True)
    else:
        e = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).mean(1).sum(), x, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return norms.square().mean() / 2 if kind == "r1" else (norms - 1).square().mean()


def adaptive_weight(rec: torch.Tensor, gan: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """λ = ‖∇_w rec‖ / (‖∇_w gan‖ + 1e-4), clamped to [0, 1e4] and detached (taming-transformers)."""
    if not (torch.is_tensor(rec) and rec.requires_grad and gan.requires_grad):
        return torch.zeros((), device=last.device)  # no graph (evaluation): as taming-transformers, 0
    g_rec = torch.autograd.grad(rec, last, retain_graph=True, allow_unused=True)[0]
    g_gan = torch.autograd.grad(gan, last, retain_graph=True, allow_unused=True)[0]
    if g_rec is None or g_gan is None:
        return torch.zeros((), device=last.device)
    return (g_rec.norm() / (g_gan.norm() + ADAPTIVE_EPS)).clamp(0.0, ADAPTIVE_MAX).detach()


class Adversarial(Critic):
    """``values``: the generator loss per image (mean over its patch scores). Must be
    :meth:`attach`-ed to the model before use (the discriminator's size follows the images)."""

    critic_columns = ("d_loss", "d_acc_real", "d_acc_recon")
    spec: AdversarialSpec

    def __init__(self, spec: AdversarialSpec):
        super().__init__(spec)
        self.discriminator: Discriminator | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._last: tuple[torch.Tensor, ...] = ()  # the model's parameter, held without making it the term's
        self.lam: torch.Tensor | float = 1.0

    @property
    def last(self) -> torch.Tensor | None:
        """The decoder's last-layer weight (the adaptive weight's gradients are taken there)."""
        return self._last[0] if self._last else None

    def _attached(self) -> tuple[Discriminator, torch.optim.Optimizer, torch.Tensor]:
        """The discriminator, its optimizer and the decoder's last weight; an error before :meth:`attach`."""
        if self.discriminator is None or self.optimizer is None or not self._last:
            raise RuntimeError("the adversarial term must be attached to a model first")
        return self.discriminator, self.optimizer, self._last[0]

    def attach(self, model: nn.Module, shape: tuple[int, int, int], device) -> None:
        s = self.spec
        self.discriminator = Discriminator(shape, s.discriminator, s.channels, s.layers, s.spectral_norm).to(device)
        self.discriminator.requires_grad_(False)  # frozen except inside critic_step
        beta1, beta2 = s.betas
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=s.lr, betas=(beta1, beta2))
        last = model.last_layer
        if not isinstance(last, nn.Module) or not isinstance(last.weight, torch.Tensor):
            raise TypeError(f"{type(model).__name__}.last_layer must be a layer with a weight (the adaptive weight reads it)")
        self._last = (last.weight,)

    def weight_at(self, step: int):
        if not self.active(step):
            return 0.0
        return self.spec.weight * self.lam if self.spec.adaptive else self.spec.weight

    def adapt(self, rec: torch.Tensor, gan: torch.Tensor, step: int) -> None:
        """Set λ for this step from the reconstruction loss (all other weighted terms)."""
        if self.spec.adaptive and self.active(step):
            self.lam = adaptive_weight(rec, gan, self._attached()[2])

    def values(self, out, x):
        d, _, _ = self._attached()
        scores = d(out["x_hat"].float())
        return generator_loss(self.spec.loss, scores).mean(1)

    def critic_step(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """One discriminator update; returns [loss, accuracy on real, accuracy on reconstructions]
        (fractions of scores on the right side of the threshold), kept on the device."""
        d, optimizer, _ = self._attached()
        d.requires_grad_(True)
        try:
            real = d(x.float())
            fake = d(x_hat.detach().float())
            loss = discriminator_loss(self.spec.loss, real, fake)
            total = loss
            if self.spec.penalty != "none":
                total = loss + self.spec.penalty_weight * gradient_penalty(self.spec.penalty, d, x.float(), x_hat.float())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
        finally:
            d.requires_grad_(False)
        t = threshold(self.spec.loss, real.detach(), fake.detach())
        return torch.stack([loss.detach(), (real.detach() > t).float().mean(), (fake.detach() <= t).float().mean()])

    def get_extra_state(self) -> dict:
        """The discriminator's weights are in the state_dict as a submodule; its optimizer and the
        adaptive weight of the last step are here."""
        lam = self.lam if torch.is_tensor(self.lam) else torch.tensor(float(self.lam))
        return {**super().get_extra_state(), "optimizer": self._attached()[1].state_dict(), "lam": lam.detach().cpu()}

    def set_extra_state(self, state: dict) -> None:
        super().set_extra_state(state)
        _, optimizer, last = self._attached()
        optimizer.load_state_dict(state["optimizer"])  # maps onto the discriminator's parameters by position
        self.lam = state["lam"].to(last.device) if "lam" in state else 1.0


#: a discriminator is flagged when its epoch-mean accuracies stay at an extreme this long
STUCK_EPOCHS = 3
EXTREME = 0.99


def critic_flags(epoch_rows: list[dict], names: list[str], epochs: int = STUCK_EPOCHS) -> list[Flag]:
    """Messages for discriminators that *win* (epoch-mean accuracy ≥ 0.99 on real and on
    reconstructed images for ``epochs`` epochs in a row: the autoencoder's adversarial gradient
    carries no information) or *collapse* (call every image real, or every image fake, that
    long: the discriminator stopped discriminating)."""
    messages = []
    for name in names:
        states: list[str | None] = []
        for row in epoch_rows:
            real, recon = row.get(f"d_acc_real[{name}]"), row.get(f"d_acc_recon[{name}]")
            if real is None or recon is None:
                states.append(None)
            elif real >= EXTREME and recon >= EXTREME:
                states.append("wins")
            elif (real >= EXTREME and recon <= 1 - EXTREME) or (real <= 1 - EXTREME and recon >= EXTREME):
                states.append("collapsed")
            else:
                states.append(None)
        for state, what in (("wins", "wins: accuracy >= 0.99 on real and on reconstructed images"),
                            ("collapsed", "collapsed: calls (nearly) every image the same")):
            run = longest_run(states, state)
            if run and run[1] - run[0] + 1 >= epochs:
                first, last = epoch_rows[run[0]]["epoch"], epoch_rows[run[1]]["epoch"]
                messages.append(Flag(f"discriminator-{state}", f"discriminator of {name} {what} in epochs {first}-{last}"))
    return messages
