"""expkit from Python: compose a config, fit it, open a run. Every `expkit` command is built on this.

    import expkit

    cfg = expkit.compose(["experiment=regression", "trainer.max_epochs=5"])
    result = expkit.fit(cfg)                       # a new run folder under paths.output_root
    run = expkit.load_run(result.run_dir)
    run.evaluate()                                 # test metrics
    run.predict(["0.5", "0.25"])                   # [{"prediction": 0.65}, ...]

Nothing here keeps state between calls: each function takes what it needs and returns what it
made. Hydra's `hydra.main` is only used by the CLI for sweeps (`-m`) and Hydra's own flags.

The stages live in modules of their own, each importing only the ones before it:
`expkit.composition` (the config), `expkit.fitting` (validate it once, fit it into a run folder),
`expkit.rerun` (reproduce, resume); `expkit.runs.loading` opens a finished run.
"""

from __future__ import annotations

from expkit.composition import compose, workload_overrides
from expkit.fitting import RunResult, fit, validate
from expkit.rerun import reproduce, resume
from expkit.runs.loading import LoadedRun, load_run

__all__ = ["compose", "validate", "fit", "load_run", "reproduce", "resume", "RunResult", "LoadedRun", "workload_overrides"]
