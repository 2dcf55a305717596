# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench fuzz lint typecheck vectors clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check schemas collector syncserver tests scripts bench
	$(BIN)/mypy schemas syncserver collector
	$(BIN)/python -m pytest -q

# Benchmarks (not tests): each script leaves bench/results/<name>.json, and
# bench/report.py renders them all into docs/performance.md. About 2 minutes on the
# 2-core reference machine (make fuzz: about 10).
bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

# The longer fuzzing runs; their counts go to bench/results/fuzz.json and the page.
fuzz: $(VENV)/.installed-test
	$(BIN)/python bench/fuzz.py
	$(BIN)/python bench/report.py

vectors: $(VENV)/.installed-test
	$(BIN)/python tests/vectors/generate_bundle_vectors.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
