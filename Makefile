# The README's two commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where torch comes from. Empty: pip's own index (here a local CPU wheel). Elsewhere, PyPI's Linux
# torch is a multi-GB CUDA build: `make demo TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu`.
TORCH_INDEX_URL ?=

.PHONY: setup demo test test-fast bench lint render clean

setup: $(STAMP)

# torch first and pinned: letting pip choose it pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[steps,test]'
	touch $(STAMP)

demo: setup
	$(BIN)/xnat-monai demo --workdir demo-work

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not docker"

bench: setup
	$(BIN)/python -m benchmarks

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy xnat_plugin
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/xnat-monai commands render --check

render: setup
	$(BIN)/xnat-monai commands render

clean:
	rm -rf $(VENV) demo-work .pytest_cache .ruff_cache .mypy_cache bench-results.json
