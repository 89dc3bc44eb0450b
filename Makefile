# One virtual environment (.venv) for everything; `make demo` and `make test` create it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo reproduce test test-full lint bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from the CPU build pip finds here, so nothing later pulls a CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,train,lm,docs]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/subliminal-gym demo

reproduce: install
	$(BIN)/subliminal-gym reproduce --quick

# The fast lane (at most 5 minutes on 2 cores): everything but the tests marked slow.
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow"

# The full lane: the slow tests (docs site, course notebooks, the reproduction grid, training, the wheel).
test-full: install
	$(BIN)/python -m pytest -m slow

# Static checks: ruff, mypy on the package, and the layer contracts (import-linter, see pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/bench_envs.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
