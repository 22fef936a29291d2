# tubeless: every target sets up what it needs (venv in .venv, ALSA headers, packages).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: fetch-captures help run test bench bench-realtime default-model install uninstall deploy mixer check-arm64 clean-cache

help:
	@echo "make run            set up, then play the bundled model (sound card) or simulate it into out/demo.wav"
	@echo "make test           set up (incl. torch for the reference tests), then run the test suite"
	@echo "make bench          real-time factor table of every kernel, and PyTorch's"
	@echo "make bench-realtime xruns and lateness of the running pedal on a JACK dummy device, in phases"
	@echo "make default-model  retrain the bundled model and remake the bundled IR and DI clip"
	@echo "make install        on a Raspberry Pi: install the pedal as a boot service (sudo); HOTSPOT=auto|always|off"
	@echo "make uninstall      reverse make install (PURGE=1 also removes config and models)"
	@echo "make deploy HOST=pedal.local FILES=\"a.nam b.npz\"   copy models to a pedal over SSH"
	@echo "make fetch-captures HOST=pedal.local   copy the pedal's captures (tubeless capture) here over SSH; DRYRUN=1"
	@echo "make check-arm64    (root) install + test in an arm64 Debian root under qemu, 30-40 min; SUITE=trixie"

$(VENV)/.base: pyproject.toml scripts/bootstrap.sh
	@sh scripts/bootstrap.sh "$(PYTHON)" "$(VENV)" base
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	@sh scripts/bootstrap.sh "$(PYTHON)" "$(VENV)" dev
	@touch $@

run: $(VENV)/.base
	$(VENV)/bin/tubeless demo $(if $(SIM),--simulate)

test: $(VENV)/.dev
	$(PY) -m pytest -q tests

bench: $(VENV)/.dev
	$(VENV)/bin/tubeless bench

bench-realtime: $(VENV)/.base
	$(VENV)/bin/tubeless bench --realtime

default-model: $(VENV)/.dev
	$(PY) scripts/make_default_model.py --out-dir firmware/data --minutes 10

# On the Pi (these build their own venv in /opt/tubeless; no dev venv needed).
install:
	sh scripts/install.sh $(if $(HAT),--hat $(HAT)) $(if $(HOTSPOT),--hotspot $(HOTSPOT)) $(if $(DRYRUN),--dry-run)

uninstall:
	sh scripts/uninstall.sh $(if $(PURGE),--purge) $(if $(DRYRUN),--dry-run)

deploy:
	@test -n "$(HOST)" && test -n "$(FILES)" || { echo 'usage: make deploy HOST=pedal.local FILES="a.nam b.npz"' >&2; exit 2; }
	sh scripts/deploy.sh $(HOST) $(FILES)

fetch-captures:
	@test -n "$(HOST)" || { echo 'usage: make fetch-captures HOST=pedal.local [DEST=captures]' >&2; exit 2; }
	$(if $(DRYRUN),DRYRUN=1 )sh scripts/fetch-captures.sh $(HOST) $(or $(DEST),captures)

mixer:
	sh scripts/hat-mixer.sh $(if $(GAIN),--gain $(GAIN)) $(HAT)

SUITE ?= bookworm
check-arm64: $(VENV)/.base
	SUITE=$(SUITE) sh scripts/check-arm64.sh

clean-cache:
	rm -rf .cache/numba .cache/demo
