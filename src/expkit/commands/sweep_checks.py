"""What a sweep (`expkit train -m`, a search) is checked for before Hydra makes any folder or a
launcher submits anything: every job composes, the first one validates, its processes can start
under the chosen launcher, and Slurm is asked for something it can run."""

from __future__ import annotations

from typing import Any


def sweep_job_overrides(overrides: list[str]) -> list[list[str]]:
    """Overrides of the jobs that together try every value of the sweep once: the first job
    (`a=1,2 b=3,4` -> `a=1 b=3`), then one job per further value of each swept key (`a=2 b=3`,
    `a=1 b=4`). Search spaces (`interval(...)`) are left out: their values come from the sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    first: list[str] = []
    swept: list[tuple[int, str, list[str]]] = []
    for text, override in zip(overrides, parsed):
        if not override.is_sweep_override():
            first.append(text)
            continue
        try:
            values = list(override.sweep_string_iterator())
        except Exception as err:  # noqa: BLE001 - an interval is a search space: the sweeper draws it
            from hydra.core.override_parser.types import RangeSweep

            if not isinstance(override.value(), RangeSweep):
                continue
            from expkit.errors import ConfigError

            raise ConfigError(
                f"command line `{text}`: the range gives no values Hydra can sweep ({str(err).split(' (')[0]}). "
                "Give range(start, stop, step=S) with a step that is not 0 and moves from start toward stop, e.g. "
                f"'{override.get_key_element()}=range(1,5,step=1)'."
            ) from None
        key = override.get_key_element()
        if not values:
            from expkit.errors import ConfigError

            raise ConfigError(f"command line `{text}`: {key} sweeps no value at all (an empty range or list). Give "
                              f"at least one value, e.g. '{key}=range(1,5,step=1)' (the stop is left out).")
        swept.append((len(first), key, values[1:]))
        first.append(f"{key}={values[0]}")
    jobs = [first]
    for position, key, rest in swept:
        jobs += [first[:position] + [f"{key}={value}"] + first[position + 1 :] for value in rest]
    return jobs


def check_sweep(overrides: list[str], config_dir: str | None) -> None:
    """Compose and validate the sweep's jobs (every value of every swept key at least once)
    before Hydra creates any folder: a misspelled option in the 5th job is refused up front."""
    import expkit
    from hydra.errors import HydraException

    try:
        jobs = sweep_job_overrides(overrides)
    except HydraException as err:
        from expkit.composition import hydra_error as _hydra_error

        raise _hydra_error(err) from None
    # Every job is composed (a misspelled option or key is refused before any folder), the first
    # one fully validated; a bad *value* in a later job fails that job alone, listed as failed in
    # the summary while the others run.
    for n, job in enumerate(jobs):
        plain = [o for o in job if not o.startswith(("hydra.", "hydra/"))]
        # The first job with the hydra.* overrides too: a misspelled sweeper or launcher key
        # (hydra.sweeper.n_trails=5) is refused here like any other key.
        cfg = expkit.compose(job if n == 0 else plain, config_dir=config_dir)
        if n == 0:
            expkit.api.validate(cfg)
            check_sweep_processes(cfg, overrides)


def check_sweep_processes(cfg: Any, overrides: list[str]) -> None:
    """`-m` with a multi-process trainer runs only where SLURM starts the processes.

    Lightning's `ddp` launcher starts ranks > 0 by re-running the command line, which for a
    sweep is the whole sweep (Lightning #11300); in the jobs of the basic and joblib launchers
    it would start a second sweep, and a later job would find LOCAL_RANK set by the first one
    and wait for processes nobody starts. With `hydra/launcher=slurm`, SLURM starts one task per
    device (tasks_per_node) and Lightning starts none.
    """
    from expkit.errors import ConfigError
    from expkit.validation import is_multi_process

    launcher = next((o.split("=", 1)[1] for o in reversed(overrides) if o.startswith("hydra/launcher=")), "basic")
    if "slurm" in launcher:
        check_slurm_shape(cfg, overrides)
    if is_multi_process(cfg.trainer) and "slurm" not in launcher:
        raise ConfigError(
            f"-m with trainer.devices={cfg.trainer.get('devices')} (strategy {cfg.trainer.get('strategy')}) is not "
            f"supported with the {launcher} launcher: Lightning starts the other DDP processes by re-running the command, "
            "which would re-run the sweep (Lightning #11300). Sweep on one device per job (trainer.devices=1), run each "
            "multi-device job with its own `expkit train trainer=ddp ...`, or send the sweep to SLURM with "
            "hydra/launcher=slurm, where SLURM starts the processes (hydra.launcher.tasks_per_node=trainer.devices)."
        )


# hydra.launcher keys that are sizes: a whole number of at least 1 (signal_delay_s and
# gpus_per_node: 0 or more); mem_gb, any number above 0.
SLURM_SIZES = {"nodes": 1, "tasks_per_node": 1, "cpus_per_task": 1, "gpus_per_node": 0, "timeout_min": 1,
               "signal_delay_s": 0, "array_parallelism": 1}
# Keys that shape every job of a Slurm sweep alike: it is one job array, with one sbatch script.
SHAPE_KEYS = ("trainer.devices", "trainer.num_nodes", "hydra.launcher.nodes", "hydra.launcher.tasks_per_node")


def check_slurm_shape(cfg: Any, overrides: list[str]) -> None:
    """What Slurm is asked for, checked before anything is submitted (sbatch would refuse it with
    a traceback, or Lightning fail in every job):

    - the launcher's sizes are whole numbers of at least 1 (`hydra.launcher.nodes=0`);
    - a Slurm sweep is one job array: one number of nodes and of tasks per node for all its jobs,
      so the keys that set them (trainer.devices, trainer.num_nodes, hydra.launcher.nodes and
      tasks_per_node) are not swept;
    - trainer.devices is a number (tasks_per_node follows it), and a tasks_per_node or
      trainer.num_nodes set by hand agrees with it and with hydra.launcher.nodes: Lightning would
      wait for ranks Slurm never starts.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from expkit.errors import ConfigError

    given: dict[str, str] = {}
    for text, override in zip(overrides, OverridesParser.create().parse_overrides(overrides)):
        key = override.get_key_element().lstrip("+~")
        if override.is_sweep_override() and key in SHAPE_KEYS:
            raise ConfigError(
                f"command line `{text}`: a Slurm sweep is one job array, every job with the same nodes and tasks per "
                f"node, so {key} cannot vary between its jobs. Run one sweep per value (e.g. `{key}=1` in one "
                "command, `=2` in another).")
        if key.startswith("hydra.launcher."):
            given[key.removeprefix("hydra.launcher.")] = text.split("=", 1)[1]
    try:
        memory_ok = float(given.get("mem_gb", 1)) > 0
    except ValueError:
        memory_ok = False
    if not memory_ok:
        raise ConfigError(f"hydra.launcher.mem_gb={given['mem_gb']}: give the memory of each job in GB, a number above "
                          "0, e.g. hydra.launcher.mem_gb=4.")
    for key, least in SLURM_SIZES.items():
        if key not in given:
            continue
        try:
            value = float(given[key])
            whole = value == int(value) and "." not in given[key]
        except ValueError:
            whole = False
        if not whole or value < least:
            raise ConfigError(
                f"hydra.launcher.{key}={given[key]}: give a whole number of {'at least ' + str(least) if least else '0 or more'}"
                f" (Slurm's sbatch would refuse it), e.g. hydra.launcher.{key}={max(least, 1)}.")
    nodes = int(float(given.get("nodes", 1)))
    devices = cfg.trainer.get("devices", 1)
    if not isinstance(devices, int) or isinstance(devices, bool):
        raise ConfigError(
            f"trainer.devices={devices}: with hydra/launcher=slurm it is the number of tasks Slurm starts on each node "
            "(hydra.launcher.tasks_per_node follows it), so it must be a number: give trainer.devices=N.")
    tasks = given.get("tasks_per_node")
    if tasks is not None and int(float(tasks)) != devices:
        raise ConfigError(
            f"hydra.launcher.tasks_per_node={tasks} but trainer.devices={devices}: Slurm would start {tasks} task(s) on a "
            f"node and Lightning wait for {devices}. Set only trainer.devices=N (tasks_per_node follows it).")
    num_nodes = cfg.trainer.get("num_nodes")
    if num_nodes is not None and int(num_nodes) != nodes:
        raise ConfigError(
            f"trainer.num_nodes={num_nodes} but hydra.launcher.nodes={nodes}: Slurm would start {nodes} node(s) and "
            f"Lightning wait for {num_nodes}. Set only hydra.launcher.nodes=N (trainer.num_nodes follows it; with "
            "trainer.devices ranks on each node), and drop trainer.num_nodes."
        )
