# Two commands on a fresh clone: `make run` (the main job) and `make test` (lint, types, tests).
# Both create .venv when it is missing. torch==2.13.0 is installed first so that the CPU wheel on
# these machines' disk is used instead of a multi-GB CUDA build pulled in as a dependency.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: run test test-slow lint install clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The main job: generate (once) and validate the default synthetic GTEA-like dataset, then train a
# small streaming segmenter with PPO on it on Ray and print the test table and the run directory.
# Token auth stays on: the embedded cluster's GCS listens on all interfaces (Ray cannot bind it to
# loopback), so the token is what keeps other machines out (docs/cluster.md). Ray creates the token
# in ~/.ray/auth_token on first use. Like the experiments' protocols, it turns on the learned hold
# gate and acting under dropout (docs/learning.md); the bare `train` defaults keep them off
# because the RLlib engine runs neither.
RUN_SETTINGS ?= --set iterations=80 --set model.hold_gate=true --set algo.act_dropout=true
run: $(STAMP)
	$(PY) -m svtas_ray synth --preset gtea --out data/synthetic/gtea
	$(PY) -m svtas_ray check-data data/synthetic/gtea --require features
	RAY_AUTH_MODE=token RAY_USAGE_STATS_ENABLED=0 $(PY) -m svtas_ray train \
		--set data.root=data/synthetic/gtea $(RUN_SETTINGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy svtas_ray envs

test: lint
	RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -m "slow or cluster" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
