"""Optuna's own plots of a search, as PNG files in its sweep folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List

from expkit.runs.sweep import OPTUNA_PARETO_PLOT, OPTUNA_PLOTS

log = logging.getLogger("expkit")


def write_plots(study: Any, sweep_dir: Path, target_name: Any) -> List[str]:
    """Optuna's parallel-coordinate and parameter-importance plots as PNG files in the sweep
    folder (the names of those written); for several objectives (`target_name` a list of their
    names), the Pareto front's plot. Needs matplotlib; importances need two complete trials
    whose parameters differ."""
    from optuna.trial import TrialState

    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed: no Optuna plots (pip install matplotlib)")
        return []
    import warnings

    matplotlib.use("Agg")  # files only: no window, works without a display
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis
    from optuna.exceptions import ExperimentalWarning

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    varying = {k for t in complete for k in t.params if len({repr(u.params.get(k)) for u in complete}) > 1}
    written = []
    plots: Dict[str, str] = OPTUNA_PLOTS
    if isinstance(target_name, list):  # several objectives
        plots = {OPTUNA_PARETO_PLOT: "plot_pareto_front"} if len(target_name) in (2, 3) else {}
    for name, function in plots.items():
        if not complete or (function == "plot_param_importances" and (len(complete) < 2 or not varying)):
            log.info("No %s yet: it needs %s", name, "two complete trials with differing parameters"
                     if function == "plot_param_importances" else "a complete trial")
            continue
        # Optuna's plots switch matplotlib's global style (ggplot): rc_context puts it back.
        with warnings.catch_warnings(), matplotlib.rc_context():
            # Optuna marks its matplotlib backend experimental.
            warnings.filterwarnings("ignore", category=ExperimentalWarning)
            # matplotlib on an axis whose trials all share one value (a single complete trial).
            warnings.filterwarnings("ignore", message="Attempting to set identical low and high", category=UserWarning)
            try:
                if isinstance(target_name, list):
                    axes = vis.plot_pareto_front(study, target_names=target_name)
                else:
                    axes = getattr(vis, function)(study, target_name=target_name)
                figure = axes.figure
                figure.set_size_inches(10, 6)
                figure.tight_layout()
                figure.savefig(sweep_dir / name, dpi=100)
                plt.close(figure)
            except Exception as err:  # noqa: BLE001 - a plot is an extra: optuna_best.yaml and the summary come after it
                plt.close("all")
                log.warning("No %s: %s: %s", name, type(err).__name__, err)
                continue
        written.append(name)
    return written
