# tubeless: every target sets up what it needs (venv in .venv, ALSA headers, packages).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: run test bench render default-model clean-cache help deps

help:
	@echo "make run     set up, then render the bundled DI clip through the bundled model"
	@echo "make test    set up (incl. torch for reference tests), then run the test suite"
	@echo "make bench   real-time factor table of every kernel (and PyTorch's)"

$(VENV)/.base: pyproject.toml scripts/bootstrap.sh
	sh scripts/bootstrap.sh "$(PYTHON)" "$(VENV)" base
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	sh scripts/bootstrap.sh "$(PYTHON)" "$(VENV)" dev
	@touch $@

run: $(VENV)/.base
	$(VENV)/bin/tubeless demo

test: $(VENV)/.dev
	$(PY) -m pytest -q tests

bench: $(VENV)/.dev
	$(VENV)/bin/tubeless bench

clean-cache:
	rm -rf .cache/numba
