"""Loss-balance diagnostics: is one term drowning the others?

Once per epoch, on a fixed probe batch and in eval mode (no random draws, so training is not
perturbed), each term's *weighted* gradient norm is measured at two places: the decoder output
(the raw decoder output: logits or the unbounded image) and the code (the VAE's mean, or the AE's z). KL never reaches the decoder
output, so it is compared at the code, where it competes with the reconstruction terms.
When, at one place, one term's norm exceeds another's by more than ``DOMINANCE`` (among the
terms that reach that place with a non-zero gradient), the run is flagged: the classic answer
to "why does my KL / perceptual term do nothing".
"""

from __future__ import annotations

import torch

DOMINANCE = 100.0


def gradient_norms(model, loss, x: torch.Tensor, step: int, index: torch.Tensor | None = None) -> dict[str, dict[str, float]]:
    """term -> {"decoder": norm, "code": norm} of the weighted term's gradient (0 where it does not reach).
    ``index``: the probe images' positions in the training split (for terms with cached targets)."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(x)
            places = {"decoder": out["decoded"], "code": out.get("mu", out["z"])}
            norms = {}
            for name, term in loss.terms.items():
                value = term.weight_at(step) * loss.term_values(name, out, x, index).mean()
                grads = torch.autograd.grad(value, list(places.values()), retain_graph=True, allow_unused=True)
                norms[name] = {place: (float(g.norm()) if g is not None else 0.0) for place, g in zip(places, grads)}
    finally:
        model.train(was_training)
    return norms


def dominance(norms: dict[str, dict[str, float]], epoch: int) -> list[str]:
    """Messages for every place where one term's gradient exceeds another's by more than DOMINANCE."""
    messages = []
    for place in ("decoder", "code"):
        reaching = {name: n[place] for name, n in norms.items() if n[place] > 0}
        if len(reaching) < 2:
            continue
        big = max(reaching, key=reaching.__getitem__)
        small = min(reaching, key=reaching.__getitem__)
        ratio = reaching[big] / reaching[small]
        if ratio > DOMINANCE:
            messages.append(f"epoch {epoch}: at the {place} the gradient of {big} is {ratio:,.0f}x that of {small} "
                            f"({reaching[big]:.3g} vs {reaching[small]:.3g}); {small} barely trains")
    return messages
