# videoattr: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SOURCES := videoattr benchmarks builders tests run.py
export OMP_NUM_THREADS ?= 2

.PHONY: install demo test test-full lint format bench bench-speed bench-cli clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: install
	@echo "Demo: STEP on 2 synthetic clips of 2 classes, 1000 of its 2000 iterations, area 0.02; python run.py runs the full job."
	$(BIN)/python run.py hydra.run.dir=outputs/demo "dataset.clips=[right-100_0,up-100_0]" dataset.batch_size=2 \
		method.iterations=1000 area=0.02

# Two pytest workers (pytest-xdist), a test file per worker, one thread each: most tests wait on run.py
# subprocesses, which start with one thread too (tests/helpers).
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

# The fast tier (a few minutes): every module, one real run.py end to end, one real fit, real decord reads.
test: install
	$(PYTEST) -m "not slow" --durations=15

# Everything, the slow tier included (CI runs this).
test-full: install
	$(PYTEST) --durations=25

lint: install
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

format: install
	$(BIN)/ruff format $(SOURCES)

bench: install
	$(BIN)/python -m benchmarks.benchmark $(BENCH_ARGS)

bench-speed: install
	$(BIN)/python -m benchmarks.bench_speed

bench-cli: install
	$(BIN)/python -m benchmarks.bench_cli

clean:
	rm -rf outputs/* multirun .pytest_cache
