# Two commands set everything up on a fresh machine:
#   make demo   - create .venv if needed, install mlw, run the main job on shipped data
#   make test   - install what the tests need (dev extra, PostgreSQL server, Chromium) and run them
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
CONFIG ?= configs/churn.yaml

.PHONY: demo test loop movies install install-dev services bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# An editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set every mlw command
# would compile mlw's modules again (~0.1 s): compile them once, as pip does for a regular install.
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q mlflow_cli

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q mlflow_cli

services:
	bash .ci/ensure-postgres
	bash .ci/ensure-browser

demo: install
	$(BIN)/mlw run -c $(CONFIG)
	$(BIN)/mlw artifacts lineage evaluate/latest -c $(CONFIG)
	$(BIN)/mlw evaluate -c $(CONFIG)

# The closed loop on shipped data: train, serve, monitor the log, retrain when the world changes
# (examples/closed_loop.py; writes artifacts/loop/loop.png).
loop: install
	$(BIN)/python examples/closed_loop.py

# The movie recommender on shipped ratings: train, evaluate beside the baselines, promote; then serve it.
movies: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[recommend]'
	$(BIN)/python -m compileall -q mlflow_cli
	$(BIN)/mlw run -c configs/movies.yaml
	$(BIN)/mlw models promote latest --alias production -c configs/movies.yaml
	@echo "Serve it: $(BIN)/mlw serve -c configs/movies.yaml   (then open http://127.0.0.1:8000/)"

# The suite in parallel workers (one per core, at most 4), each test file on one worker so that
# a module's shared server or project is built once.
test: install-dev services
	$(BIN)/python -m pytest -n auto --maxprocesses=4 --dist loadfile

bench: install
	$(BIN)/python -m pip install --quiet -e ".[recommend]"
	$(BIN)/python bench/bench_help.py
	$(BIN)/python bench/bench_ingest_prepare.py
	$(BIN)/python bench/bench_monitor_speed.py
	$(BIN)/python bench/bench_monitor_detection.py
	$(BIN)/python bench/bench_monitor_log.py
	$(BIN)/python bench/bench_retrain.py
	$(BIN)/python bench/bench_reload.py
	$(BIN)/python bench/bench_recommend.py
	$(BIN)/python -m pip install --quiet -e ".[boost]"
	$(BIN)/python bench/bench_auto.py

clean:
	rm -rf artifacts bench/out .pytest_cache
