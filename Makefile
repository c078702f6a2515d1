# Two commands set everything up on a fresh machine: `make app` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED := $(abspath ../shared/data)
export FACECLUST_MODELS ?= $(HOME)/.cache/faceclust/models:$(SHARED)/models:$(SHARED)/sr_models
export FACECLUST_SAMPLES ?= $(SHARED)/clips

.PHONY: app test lint system

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps face_recognition==1.3.0
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

app: $(BIN)/.installed
	$(BIN)/streamlit run app.py

# System packages the tests need (ffmpeg makes test clips in other containers); root installs them.
system:
	@command -v ffmpeg >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: system lint
	$(BIN)/python -m pytest
