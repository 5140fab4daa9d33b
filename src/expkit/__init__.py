"""expkit: configuration-driven PyTorch experiments (Hydra configs -> Lightning runs)."""

__version__ = "0.1.0"
