# videoattr: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export OMP_NUM_THREADS ?= 2

.PHONY: install demo test lint format bench bench-speed clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: install
	@echo "Demo: STEP on 2 synthetic clips of 2 classes, 1000 of its 2000 iterations, area 0.02; python run.py runs the full job."
	$(BIN)/python run.py hydra.run.dir=outputs/demo "dataset.clips=[right-100_0,up-100_0]" dataset.batch_size=2 \
		method.iterations=1000 area=0.02

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check videoattr scripts tests run.py
	$(BIN)/ruff format --check videoattr scripts tests run.py

format: install
	$(BIN)/ruff format videoattr scripts tests run.py

bench: install
	$(BIN)/python scripts/benchmark.py $(BENCH_ARGS)

bench-speed: install
	$(BIN)/python scripts/bench_speed.py

clean:
	rm -rf outputs/* multirun .pytest_cache
