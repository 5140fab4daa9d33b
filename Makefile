# Two commands on a fresh machine: `make train` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Installed only when the environment has no torch yet; a torch you already have is kept.
TORCH_SPEC ?= torch==2.13.0
ARGS ?=

.PHONY: setup train test test-fast bench gpu-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml hatch_build.py src/expkit/text/_basic_english.c
	test -x $(BIN)/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

train: setup
	$(BIN)/expkit train $(ARGS)

# Everything but the cluster tier (which needs root and starts Slurm daemons): CLI processes and
# real trainings included.
test: setup
	$(BIN)/python -m pytest -q -n 2 --ignore=tests/cluster $(ARGS)

# The cluster tier: a real two-node Slurm on 127.0.0.1 (.ci/slurm/start-cluster.sh; root and
# Debian's slurm-wlm + munge). Skips with the reason where they are missing, fails under CI=true.
test-cluster: setup
	$(BIN)/python -m pytest -q -n 2 tests/cluster $(ARGS)

# The inner loop: the in-process tier only (no CLI processes, no real trainings).
test-fast: setup
	$(BIN)/python -m pytest -q -n 2 -m "not slow" $(ARGS)

bench: setup
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/dbpedia.py
	$(BIN)/python benchmarks/scale.py

# On a machine with an NVIDIA GPU: the default experiment and digits on the GPU, bf16-mixed,
# predict --compile, and samples/s against the plain loop, as one table. Elsewhere it says so.
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
