"""Several nodes with one key: hydra.launcher.nodes=N makes trainer.num_nodes N in each job, as
trainer.devices=N makes N tasks on a node."""

from __future__ import annotations

import pytest

from conftest import SMALL_JOB, read_metrics, run_cli

TRAINING = ["experiment=regression", "trainer.max_epochs=2"]


@pytest.mark.slow
def test_two_nodes_one_rank_each_and_one_node_two_ranks_match_the_one_process_run(slurm_cluster, tmp_path):
    one = run_cli("train", "trainer=cpu", "data.batch_size=64", *TRAINING, cwd=tmp_path, timeout=300)
    assert one.returncode == 0, one.output
    expected = read_metrics(one.run_dirs()[0])
    for nodes, devices in ((2, 1), (1, 2)):
        sweep = tmp_path / f"sweep_{nodes}x{devices}"
        run = run_cli("train", "-m", *SMALL_JOB, f"hydra.launcher.nodes={nodes}", "trainer=ddp_cpu",
                      f"trainer.devices={devices}", "data.batch_size=32", *TRAINING, f"hydra.sweep.dir={sweep}",
                      cwd=tmp_path, timeout=400)
        assert run.returncode == 0, run.output[-3000:]
        (run_dir,) = [p for p in sweep.iterdir() if p.name.startswith("0_")]
        resolved = (run_dir / ".hydra" / "resolved.yaml").read_text()
        assert f"num_nodes: {nodes}" in resolved and f"devices: {devices}" in resolved
        # Two Slurm tasks (one per node, or two on one node): rank 1's own submitit log says so.
        (rank1_log,) = sweep.glob(".submitit/*/*_1_log.out")
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in rank1_log.read_text()
        got = read_metrics(run_dir)
        # 2 ranks x 32 rows and 1 process x 64 rows see the same batches (tests/test_ddp.py).
        assert got["status"] == "finished" and got["global_step"] == expected["global_step"] == 26
        for key in ("val/loss", "val/mae", "test/loss", "test/mae"):
            assert got[key] == pytest.approx(expected[key], abs=1e-5), (nodes, devices, key)


@pytest.mark.slow
def test_a_hand_set_num_nodes_other_than_the_launcher_nodes_is_refused_before_submitting(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run_cli("train", "-m", *SMALL_JOB, "hydra.launcher.nodes=2", "+trainer.num_nodes=3", *TRAINING,
                     "hydra.sweep.dir=sweep", cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.output
    assert "trainer.num_nodes=3 but hydra.launcher.nodes=2" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "sweep").exists()
