# Two entry points for a newcomer: `make run` (the demo page) and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint check clean

# Every package at the exact version in constraints.txt, so a new release cannot break a green main.
$(BIN)/madoguchi: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==26.3
	PIP_CONSTRAINT=constraints.txt $(BIN)/pip install --quiet -e ".[test]"
	touch $@

# The whole center on this machine: the bot with fake LINE and Slack and one web page (no secrets).
# PORT=8081 make run picks another port.
PORT ?= 8080
run: $(BIN)/madoguchi
	$(BIN)/madoguchi demo --port $(PORT)

test: $(BIN)/madoguchi
	$(BIN)/python -m pytest -q

lint: $(BIN)/madoguchi
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

clean:
	rm -rf $(VENV) var
