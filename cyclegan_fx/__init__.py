"""cyclegan-fx: train CycleGAN and apply its generators to high-resolution images."""

__version__ = "0.1.0"
