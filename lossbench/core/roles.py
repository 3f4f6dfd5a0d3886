"""What a loss term does, as data: a term's spec states its role (lossbench.losses.specs), a study's
manifest records it per term (``term_facts``), and training, scoring and the report read the role,
never a term's name.

- ``pixel``: a distance to the input in pixels (l1, l2, lp, bce);
- ``structural``: SSIM-family (ssim, ms-ssim, mix);
- ``rate``: a VAE's KL (its weight is β);
- ``perceptual``: a distance in a frozen network's features;
- ``critic``: it trains a discriminator of its own (adversarial).
"""

PIXEL, STRUCTURAL, RATE, PERCEPTUAL, CRITIC = "pixel", "structural", "rate", "perceptual", "critic"
ROLES = (PIXEL, STRUCTURAL, RATE, PERCEPTUAL, CRITIC)
