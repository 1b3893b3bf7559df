# Two commands after cloning: `make course` builds everything; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONUNBUFFERED := 1

.PHONY: course test data browser benchmark lint release solutions autograder book clean

course: data release solutions autograder book

test: data browser
	$(PY) -m pytest

# --- setup ------------------------------------------------------------------
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt -e .
	touch $@

# Fashion-MNIST from Debian's package when no verified copy is found.
data: $(STAMP)
	@$(PY) -m vae_anomaly.data 2>/dev/null || { \
	  command -v apt-get >/dev/null || { $(PY) -m vae_anomaly.data; exit 1; }; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	  $(PY) -m vae_anomaly.data; }

# Headless Chromium for the site's browser test.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq chromium; }

# --- checks -------------------------------------------------------------------
lint: $(STAMP)
	$(PY) -m ruff check .

benchmark: data
	$(PY) -m vae_anomaly.benchmark

clean:
	rm -rf _build release submitted autograded feedback gradebook.db
