"""A weighted sum of terms: the loss of one condition."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from lossbench.losses.base import Critic, IndexedTerm, Term


class CompositeLoss(nn.Module):
    """The condition's terms by label. The terms are also this module's children, in order
    (``parts``; labels may hold characters a module name may not), so ``state_dict()`` holds
    every term's training state, discriminators and their optimizers included."""

    def __init__(self, terms: Mapping[str, Term]):
        super().__init__()
        self.parts = nn.ModuleList(terms.values())
        self.terms: dict[str, Term] = dict(terms)
        # terms that train a network of their own (the adversarial term's discriminator); fixed
        # once here, not looked up on every training step
        self.critics: dict[str, Critic] = {name: t for name, t in terms.items() if isinstance(t, Critic)}

    @property
    def names(self) -> list[str]:
        return list(self.terms)

    @property
    def columns(self) -> list[str]:
        """What one row of :meth:`__call__` + :meth:`critic_step` holds, in order: each term's
        unweighted mean, the total, then per critic its effective weight and its own loss and
        accuracies (``weight[adv]``, ``d_loss[adv]``, ...)."""
        extra = []
        for name, term in self.critics.items():
            extra += [f"weight[{name}]"] + [f"{c}[{name}]" for c in term.critic_columns]
        return self.names + ["total"] + extra

    @property
    def plateau_terms(self) -> list[str]:
        """Terms that switch on once the others' validation loss stops improving (``start: plateau``)."""
        return [name for name, t in self.terms.items() if t.on_plateau]

    def start_plateau_terms(self, step: int) -> list[str]:
        """Switch the ``start: plateau`` terms on from ``step``; return their names."""
        started = [name for name in self.plateau_terms if self.terms[name].started_at is None]
        for name in started:
            self.terms[name].started_at = step
        return started

    def attach(self, model, shape: tuple[int, int, int], device) -> None:
        """Build what terms own (discriminators) for this model and image shape."""
        for term in self.critics.values():
            term.attach(model, shape, device)

    def prepare(self, images: dict[str, torch.Tensor]) -> None:
        """Let terms precompute what depends on the images of each split only (perceptual targets):
        ``{"train": ..., "val": ...}``."""
        for term in self.terms.values():
            for x in images.values():
                if x is not None:
                    term.check_images(x)
            term.prepare(images)

    def term_values(self, name: str, out, x: torch.Tensor, index: torch.Tensor | None = None, split: str = "train"):
        """One term's per-image values; ``index`` (positions in ``split``) for terms with cached targets."""
        term = self.terms[name]
        if isinstance(term, IndexedTerm):
            return term.values(out, x, index, split)
        return term.values(out, x)

    def forward(self, out: dict[str, torch.Tensor], x: torch.Tensor, step: int,
                 index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (total, values): the weighted batch-mean total of the active terms, and a vector
        holding each term's unweighted batch mean in ``names`` order (NaN for a term not yet
        started, which is not computed; kept on the device; no sync). ``index``: the batch's
        positions in the training split, for terms that cached per-image targets."""
        active = {name: term for name, term in self.terms.items() if term.active(step)}
        means = {name: self.term_values(name, out, x, index).mean() for name in active}
        critics = {name: t for name, t in self.critics.items() if name in active}
        if any(getattr(t.spec, "adaptive", False) for t in critics.values()):
            # the adaptive weight balances the critic's gradient against everything else's
            rec = sum(t.weight_at(step) * means[n] for n, t in active.items() if n not in critics)
            for name, term in critics.items():
                term.adapt(rec, means[name], step)
        total = sum(term.weight_at(step) * means[name] for name, term in active.items())
        if len(means) == len(self.terms):  # every term on (the usual step): no NaN placeholder to make
            return total, torch.stack([m.float() for m in means.values()]).detach()
        off = x.new_full((), math.nan, dtype=torch.float32)
        logged = [means[name].float() if name in means else off for name in self.terms]
        return total, torch.stack(logged).detach()

    def critic_step(self, out: dict[str, torch.Tensor], x: torch.Tensor, step: int) -> torch.Tensor:
        """Update every active critic once (after the autoencoder's step); return, per critic, its
        effective weight at this step and its loss and accuracies (NaN while it is off; device
        tensor, maybe empty)."""
        rows = []
        for term in self.critics.values():
            weight = torch.as_tensor(term.weight_at(step), dtype=torch.float32, device=x.device).reshape(1)
            if term.active(step):
                rows += [weight, term.critic_step(x, out["x_hat"]).float()]
            else:
                rows += [weight, x.new_full((len(term.critic_columns),), math.nan, dtype=torch.float32)]
        return torch.cat(rows) if rows else x.new_zeros(0)

    @torch.no_grad()
    def validation(self, model, x: torch.Tensor, step: int, batch_size: int = 500, split: str = "val") -> dict[str, float]:
        """On held-out images, in eval mode (a VAE decodes its posterior mean): each active term's
        mean that does not train a critic (an adversarial term's value depends on a moving
        discriminator and is left out), and ``monitor``: their sum at their full weights (a KL
        warm-up does not move it). NaN for terms left out."""
        was_training = model.training
        model.eval()
        keep = [n for n, t in self.terms.items() if n not in self.critics and t.active(step)]
        sums = dict.fromkeys(keep, 0.0)
        try:
            for i in range(0, len(x), batch_size):
                batch = x[i : i + batch_size]
                out = model(batch)
                index = torch.arange(i, i + len(batch), device=x.device)
                for name in keep:
                    sums[name] += float(self.term_values(name, out, batch, index, split).double().sum())
        finally:
            model.train(was_training)
        means = {name: sums.get(name, math.nan) / len(x) if name in sums else math.nan for name in self.terms}
        means["monitor"] = sum(self.terms[n].spec.weight * means[n] for n in keep)
        return means
