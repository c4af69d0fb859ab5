# The two commands of the README:  `make demo`  and  `make test`.
# Both create .venv, install torch first (TORCH_SPEC; the CPU build 2.13.0 by default), then ddikg.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch before the project: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: install
	$(BIN)/ddikg demo

# pytest exits 5 when it collects nothing; that is reported, not hidden as a failure of CI.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: install
	$(BIN)/ruff check ddikg crawler annotate iser_model kg_loader flows tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
