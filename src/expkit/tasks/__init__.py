"""LightningModules: what is trained (loss, metrics, optimizers) around a network."""
