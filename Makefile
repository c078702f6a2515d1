# Two commands set everything up on a fresh machine: `make app` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED := $(abspath ../shared/data)
export FACECLUST_MODELS ?= $(HOME)/.cache/faceclust/models:$(SHARED)/models:$(SHARED)/sr_models
export FACECLUST_SAMPLES ?= $(SHARED)/clips

.PHONY: app test lint system fast-dlib wheel-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The package and what the dashboard needs (pyproject.toml), at the tested versions.
$(BIN)/.app: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -c requirements.txt -e .
	touch $@

# Also Ray and the tools of the tests (the ray and dev extras).
$(BIN)/.dev: $(BIN)/.app
	$(BIN)/pip install --quiet -c requirements.txt -e ".[ray,dev]"
	touch $@

app: $(BIN)/.app
	$(BIN)/faceclust app

# System packages the tests need, installed with apt where missing: ffmpeg makes test clips in
# other containers, Debian's chromium is the browser of the end-to-end test.
system:
	@command -v ffmpeg >/dev/null && [ -x /usr/bin/chromium ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg chromium >/dev/null; }

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: system lint
	$(BIN)/python -m pytest

# The wheel as a user gets it: built, installed into a fresh virtual environment, and tried
# (--version, a run on a shared clip, the dashboard answering its health check).
wheel-check: $(BIN)/.dev
	bash .ci/wheel-check

# Optional, once: dlib built from source against OpenBLAS encodes a face in ~24 ms against
# ~100 ms for the prebuilt dlib-bin (bench/speed.py), with the same embeddings (so the cache
# stays valid). The build takes ~13 minutes on 2 cores; pip caches the wheel, so a rebuilt
# .venv gets it back in seconds. `make test` / `make app` may reinstall dlib-bin when
# requirements.txt changes: run this again then.
fast-dlib: $(BIN)/.dev
	@command -v cmake >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ] || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake libopenblas-dev >/dev/null; }
	$(BIN)/pip wheel --quiet --no-deps --no-binary dlib dlib==20.0.0 -w .wheels
	$(BIN)/pip uninstall --quiet -y dlib-bin
	$(BIN)/pip install --quiet --no-deps --force-reinstall .wheels/dlib-20.0.0-*.whl
	$(BIN)/python -c "import dlib; assert dlib.DLIB_USE_BLAS; print('dlib', dlib.__version__, 'with BLAS')"
