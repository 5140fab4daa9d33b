"""Hydra's own sweeper/launcher test suites (shipped in hydra.test_utils), run with expkit's
basic sweeper in place of Hydra's: `expkit_basic` must be Hydra's basic sweeper to any app."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

SWEEPER = ["hydra/sweeper=expkit_basic"]


@pytest.fixture(autouse=True)
def hydras_default_version_base():
    """Hydra keeps the version base of the last `initialize`/`hydra.main` in a process-wide
    singleton: after any test of this worker composed through expkit (version_base 1.3: jobs do
    not change directory) the suites, written for Hydra's default, would see no job folders."""
    from hydra.version import _UNSPECIFIED_, VersionBase

    base = VersionBase.instance()
    before = base.version_base
    base.version_base = _UNSPECIFIED_  # what a fresh process has: Hydra's compatibility default
    yield
    base.version_base = before


@pytest.mark.parametrize("launcher_name, overrides", [("basic", SWEEPER)])
class TestExpkitBasicSweeperWithHydrasLauncherSuite(LauncherTestSuite):
    def get_task_function(self):
        def task_func(_):
            from hydra.core.hydra_config import HydraConfig

            # The suite's sweeps ran through expkit's sweeper, not Hydra's.
            assert HydraConfig.get().sweeper._target_.endswith("ExpkitBasicSweeper")
            return 100

        return task_func


@pytest.mark.parametrize("launcher_name, overrides", [("basic", [*SWEEPER, "hydra.sweeper.max_batch_size=2"])])
class TestExpkitBasicSweeperBatches(BatchedSweeperTestSuite):
    pass


@pytest.mark.slow  # each case runs a Hydra app in a subprocess
@pytest.mark.parametrize("task_launcher_cfg, extra_flags", [({}, ["-m", "hydra/launcher=basic", *SWEEPER])])
class TestExpkitBasicSweeperIntegration(IntegrationTestSuite):
    pass


def test_a_key_given_on_the_command_line_replaces_the_params_entry():
    # As Hydra's basic sweeper plans a sweep: params first, the command line after, one entry a key.
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.expkit_sweeper.sweeper import ExpkitBasicSweeper

    sweeper = ExpkitBasicSweeper(max_batch_size=None, params={"foo": "1,2", "bar": "100,200"})
    overrides = OverridesParser.create().parse_overrides([*sweeper._parse_config(), "bar=300"])
    assert sweeper.split_arguments(overrides, None) == [[["foo=1", "bar=300"], ["foo=2", "bar=300"]]]
