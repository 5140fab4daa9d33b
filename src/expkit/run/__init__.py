"""One run folder's records: its names and statuses (`RunFolder`), metrics.json, checkpoints,
TensorBoard and tracker summaries, the signals and guards of a running fit."""
