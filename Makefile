# facegen: `make run` executes the course (main job), `make test` runs the test suite.
# Both create .venv with pip and install the package into it on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facegen-installed
PROFILE ?= quick
OUT    ?= outputs

.PHONY: run test bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m facegen_utils run-all --profile $(PROFILE) --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q
	FACEGEN_PROFILE=smoke FACEGEN_OUTPUT_DIR=$$(mktemp -d) TQDM_DISABLE=1 $(PY) -m pytest -q --nbval-lax notebooks

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(OUT) .pytest_cache
