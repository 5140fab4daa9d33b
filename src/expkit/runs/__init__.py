"""Readers of many run folders: the runs table, diff, the sweep summary (they read each run only
through `expkit.run.folder.RunFolder`)."""
