# .venv: the training profile (the train, lm, dev, docs and ray extras, constraints.txt); `make demo` and
# `make test` create it on first use.
# .venv-modern: the core profile at the newest Gymnasium and NumPy (`make test-modern`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

MODERN := .venv-modern

.PHONY: install demo reproduce test test-full test-modern test-browser lint bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from the CPU build pip finds here, so nothing later pulls a CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,train,lm,docs,ray,browser]"
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

# The core lane: the suite's own dependencies, Inspect AI, Minari and openai at the newest Gymnasium and NumPy
# (constraints-modern.txt), in its own venv, without the training stack; every test that does not need it
# (tests/conftest.py).
$(MODERN)/.installed: pyproject.toml constraints-modern.txt
	$(PYTHON) -m venv $(MODERN)
	$(MODERN)/bin/python -m pip install --quiet --upgrade pip
	$(MODERN)/bin/python -m pip install --quiet -c constraints-modern.txt -e ".[test,inspect,minari,endpoint]"
	touch $@

test-modern: $(MODERN)/.installed
	SUBLIMINAL_GYM_TESTS=core $(MODERN)/bin/python -m pytest -m "not slow"

# The full lane: the slow tests (docs site, course notebooks, the reproduction grid, training, the wheel).
test-full: install
	$(BIN)/python -m pytest -m slow

# The leaderboards page in a real headless browser: Debian's chromium and chromium-driver, installed with apt-get
# (as root) when missing.
test-browser: install
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        chromium chromium-driver)
	SUBLIMINAL_GYM_TESTS=browser $(BIN)/python -m pytest tests/test_board_page.py

# Static checks: ruff, mypy on the package, and the layer contracts (import-linter, see pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/bench_envs.py

clean:
	rm -rf $(VENV) $(MODERN) build *.egg-info .pytest_cache .ruff_cache
