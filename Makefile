# workbench: `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest-xdist workers for `make test` (0: one process); a notebook's cells, a module's or a
# class's tests stay on one worker (--dist loadscope), so module fixtures are built once
WORKERS ?= 2
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help install demo test lint lab bench clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py workbench/_reads.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[research,dev]"
	MPLBACKEND=Agg $(BIN)/python -m workbench.warmup  # compile the numba kernels once, now
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install workbench with its dev tools (only when needed)

demo: $(STAMP) ## Research to production on the sample data (a few minutes); prints where outputs are
	MPLBACKEND=Agg $(BIN)/python -m workbench.demo

test: $(STAMP) ## Run the whole test suite (unit, integration, notebooks, browser) on 2 workers (WORKERS=0: one process)
	@bash tests/e2e/install_browser.sh
	MPLBACKEND=Agg $(BIN)/python -m pytest -n $(WORKERS) --dist loadscope --no-loadscope-reorder

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check workbench tests benchmarks pipelines
	$(BIN)/ruff format --check workbench tests benchmarks pipelines

lab: $(STAMP) ## Start JupyterLab on the notebooks
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: $(STAMP) ## Run every benchmark (each checks agreement, then its goals); fails if any failed
	$(BIN)/python -m pip install --quiet backtesting  # a peer measured beside us, not a dependency
	@failed=""; for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
