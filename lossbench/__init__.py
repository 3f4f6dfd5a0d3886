"""lossbench: loss functions and image-quality metrics for generative autoencoders, measured."""

__version__ = "0.1.0"
