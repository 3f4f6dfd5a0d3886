"""Flags: what lossbench noticed about a run that a reader of its numbers should know, as
records (kind, severity, message), stored in metrics.json as mappings. The report groups and
filters them by ``kind``, never by the wording of ``message``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: every kind, what it means (summary.md's legend), and its severity. ``warning``: the run's
#: numbers are in the means, but a reader must read them with the flag in mind (⚑ in tables)
KINDS: dict[str, tuple[str, str]] = {
    "loss-balance": ("warning", "a term's gradient more than 100x another's (the smaller barely trains)"),
    "discriminator-wins": ("warning", "a discriminator's accuracy >= 0.99 on real and reconstructed images for 3 or "
                                      "more epochs in a row"),
    "discriminator-collapsed": ("warning", "a discriminator calls every image the same for 3 or more epochs in a row"),
    "collapsed-posterior": ("warning", "no latent unit carries more than 0.01 nats"),
    "collapsed-output": ("warning", "reconstructions barely depend on the input"),
    "saturated-output": ("warning", "a sigmoid decoder's logits so large that terms training through the sigmoid "
                                    "cannot move the pixels"),
    "not-converged": ("warning", "max_epochs reached while the validation loss improved"),
    "other": ("warning", "see the message"),
}

#: kinds that evaluation (not training) decides; recomputed when a run is evaluated again
HEALTH = ("collapsed-posterior", "collapsed-output", "saturated-output")


@dataclass(frozen=True)
class Flag:
    kind: str
    message: str
    severity: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown flag kind {self.kind!r} (known: {', '.join(KINDS)})")
        if not self.severity:
            object.__setattr__(self, "severity", KINDS[self.kind][0])

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_stored(cls, value) -> Flag:
        """A flag as metrics.json holds it: a mapping; or, in runs written by lossbench 0.1, its
        message alone, whose kind is read from its opening words (the only place that does so)."""
        if isinstance(value, dict):
            return cls(value.get("kind", "other") if value.get("kind") in KINDS else "other", str(value.get("message", "")),
                       str(value.get("severity", "")))
        text = str(value)
        for prefix, kind in (("epoch ", "loss-balance"), ("collapsed posterior", "collapsed-posterior"),
                             ("collapsed output", "collapsed-output"), ("saturated output", "saturated-output"),
                             ("not converged", "not-converged")):
            if text.startswith(prefix):
                return cls(kind, text)
        if text.startswith("discriminator of "):
            return cls("discriminator-wins" if " wins:" in text else "discriminator-collapsed", text)
        return cls("other", text)


def longest_run(states: list, value) -> tuple[int, int] | None:
    """(first, last) index of the longest run of consecutive ``value`` in ``states`` (the earliest
    of equal runs), or None: how long a discriminator stayed stuck, or how many steps of a sweep
    held."""
    best, start = None, None
    for i, s in enumerate(states + [object()]):
        if s == value and start is None:
            start = i
        elif s != value and start is not None:
            if best is None or i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best
