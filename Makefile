# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*))
WHEELS := build/wheels

.PHONY: demo test lint typecheck unit plugins isolation wheels bench chaos mutation clean

$(VENV)/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]' $(foreach p,$(PLUGINS),-e $(p))
	touch $@

# Generate one image with every installed model through `kie generate --emulator`, into ./out.
demo: $(VENV)/.installed
	$(BIN)/kie demo out

test: lint typecheck unit isolation

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy
	$(BIN)/mypy --strict $(foreach p,$(PLUGINS),$(p)/$(subst -,_,$(notdir $(p))))
	$(BIN)/mypy --strict tests/chaos.py bench/chaos.py

# The core's tests, in the shared environment with every plugin installed, measured by coverage.py with
# branches ([tool.coverage.*] in pyproject.toml): a table of the files not fully covered, then the total.
# A report to read, not a threshold: it never fails the build. Code run only in subprocesses is not measured.
# Each plugin's own tests run once, in `isolation`, where it is installed alone with kiecore (`make plugins`
# runs them all here in the shared environment instead, for a quick look).
unit: $(VENV)/.installed
	@mkdir -p build/coverage
	$(BIN)/coverage run -m pytest tests -q -p no:cacheprovider
	@$(BIN)/coverage report
	@echo "coverage of lines and branches: $$($(BIN)/coverage report --format=total)%"

plugins: $(VENV)/.installed
	$(BIN)/python -m pytest $(foreach p,$(PLUGINS),$(p)/tests) -q -p no:cacheprovider

# Each plugin alone with kiecore, both installed from built wheels: installing only what you need works.
isolation: wheels
	$(BIN)/tox run-parallel -p 2 --parallel-no-spinner -q

wheels: $(VENV)/.installed
	rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	$(BIN)/python -m pip wheel -q --no-deps -w $(WHEELS) . $(PLUGINS)
	@for p in $(PLUGINS); do \
		name=$$(basename $$p); pkg=$$(echo $$name | tr - _); \
		printf '%s[testing]\n%s\n' "$$(ls $(CURDIR)/$(WHEELS)/kiecore-*.whl)" "$$(ls $(CURDIR)/$(WHEELS)/$$pkg-*.whl)" \
			> $(WHEELS)/$$name.txt; \
	done

bench: $(VENV)/.installed
	$(BIN)/python bench/startup.py

# Mutation scores for docs/testing.md, one module at a time (not part of `make test`; hours for all of them on two
# cores, the engine's the most): `make mutation MODULES="transport journal"` for some, a few minutes to half an
# hour each. The modules and their tests are in bench/mutation.py.
mutation: $(VENV)/.installed
	$(BIN)/python -m pip install -q 'mutmut>=3.8,<4'
	$(BIN)/python bench/mutation.py $(MODULES)

# The fault-injection figures in docs/reliability.md (a few minutes).
chaos: $(VENV)/.installed
	$(BIN)/python bench/chaos.py 20 20

# The engine's figures in docs/performance.md: kiecore against a fixed 2 s poller, scenarios a-f (15-20
# minutes; `$(BIN)/python bench/engine.py --quick` in about two, or name scenarios: `bench/engine.py b`).
.PHONY: engine-bench
engine-bench: $(VENV)/.installed
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) out build .tox .mypy_cache .ruff_cache .hypothesis mutants
