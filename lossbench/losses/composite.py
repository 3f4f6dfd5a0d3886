"""A weighted sum of terms: the loss of one condition."""

from __future__ import annotations

import torch

from lossbench.losses.base import Term


class CompositeLoss:
    def __init__(self, terms: dict[str, Term]):
        self.terms = terms
        # terms that train a network of their own (the adversarial term's discriminator); fixed
        # once here, not looked up on every training step
        self.critics: dict[str, Term] = {name: t for name, t in terms.items() if hasattr(t, "critic_step")}

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

    def attach(self, model, shape: tuple[int, int, int], device) -> None:
        """Build what terms own (discriminators) for this model and image shape."""
        for term in self.critics.values():
            term.attach(model, shape, device)

    def __call__(self, out: dict[str, torch.Tensor], x: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (total, values): the weighted batch-mean total, and a vector holding each
        term's unweighted batch mean in ``names`` order (kept on the device; no sync)."""
        means = {name: term.values(out, x).mean() for name, term in self.terms.items()}
        critics = self.critics
        if any(getattr(t.spec, "adaptive", False) for t in critics.values()):
            # the adaptive weight balances the critic's gradient against everything else's
            rec = sum(t.weight_at(step) * means[n] for n, t in self.terms.items() if n not in critics)
            for name, term in critics.items():
                term.adapt(rec, means[name], step)
        total = sum(term.weight_at(step) * means[name] for name, term in self.terms.items())
        return total, torch.stack(list(means.values())).detach()

    def critic_step(self, out: dict[str, torch.Tensor], x: torch.Tensor, step: int) -> torch.Tensor:
        """Update every critic once (after the autoencoder's step); return, per critic, its
        effective weight at this step and its loss and accuracies (device tensor, maybe empty)."""
        rows = []
        for term in self.critics.values():
            weight = torch.as_tensor(term.weight_at(step), dtype=torch.float32, device=x.device).reshape(1)
            rows += [weight, term.critic_step(x, out["x_hat"])]
        return torch.cat(rows) if rows else x.new_zeros(0)
