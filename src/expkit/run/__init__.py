"""A run folder and what is written into it (metrics.json, resolved config, environment)."""
