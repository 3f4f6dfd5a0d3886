"""KL(q(z|x) || N(0, I)) for a Gaussian posterior, in nats per image, summed over latent
dimensions (Kingma & Welling 2014, appendix B). With weight beta this is the beta-VAE term."""

from __future__ import annotations

from lossbench.losses.base import Term
from lossbench.losses.specs import KLSpec


class KL(Term):
    spec: KLSpec

    def weight_at(self, step: int) -> float:
        if self.spec.warmup <= 0:
            return self.spec.weight
        return self.spec.weight * min(1.0, step / self.spec.warmup)

    def values(self, out, x):
        mu, logvar = out["mu"].float(), out["logvar"].float()
        return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)
