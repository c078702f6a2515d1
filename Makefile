# Two commands set everything up on a fresh machine: `make app` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED := $(abspath ../shared/data)
export FACECLUST_MODELS ?= $(HOME)/.cache/faceclust/models:$(SHARED)/models:$(SHARED)/sr_models
export FACECLUST_SAMPLES ?= $(SHARED)/clips

.PHONY: app test lint system fast-dlib

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps face_recognition==1.3.0
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

app: $(BIN)/.installed
	$(BIN)/streamlit run app.py

# System packages the tests need, installed with apt where missing: ffmpeg makes test clips in
# other containers, Debian's chromium is the browser of the end-to-end test.
system:
	@command -v ffmpeg >/dev/null && [ -x /usr/bin/chromium ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg chromium >/dev/null; }

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: system lint
	$(BIN)/python -m pytest

# Optional, once: dlib built from source against OpenBLAS encodes a face in ~24 ms against
# ~100 ms for the prebuilt dlib-bin (bench/speed.py), with the same embeddings (so the cache
# stays valid). The build takes ~13 minutes on 2 cores; pip caches the wheel, so a rebuilt
# .venv gets it back in seconds. `make test` / `make app` reinstall dlib-bin when
# requirements.txt changes: run this again then.
fast-dlib: $(BIN)/.installed
	@command -v cmake >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ] || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake libopenblas-dev >/dev/null; }
	$(BIN)/pip wheel --quiet --no-deps --no-binary dlib dlib==20.0.0 -w .wheels
	$(BIN)/pip uninstall --quiet -y dlib-bin
	$(BIN)/pip install --quiet --no-deps --force-reinstall .wheels/dlib-20.0.0-*.whl
	$(BIN)/python -c "import dlib; assert dlib.DLIB_USE_BLAS; print('dlib', dlib.__version__, 'with BLAS')"
