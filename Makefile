# Two entry points for a newcomer: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint check clean

$(BIN)/madoguchi: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Runs the bot on the example configuration. The secrets below are development placeholders,
# used only when the variables are not already set.
run: $(BIN)/madoguchi
	LINE_CHANNEL_SECRET=$${LINE_CHANNEL_SECRET:-dev-line-channel-secret} \
	LINE_CHANNEL_ACCESS_TOKEN=$${LINE_CHANNEL_ACCESS_TOKEN:-dev-line-access-token} \
	SLACK_BOT_TOKEN=$${SLACK_BOT_TOKEN:-xoxb-dev} \
	SLACK_APP_TOKEN=$${SLACK_APP_TOKEN:-xapp-dev} \
	SLACK_SIGNING_SECRET=$${SLACK_SIGNING_SECRET:-dev-signing-secret} \
	$(BIN)/madoguchi serve --config config.example.toml

test: $(BIN)/madoguchi
	$(BIN)/python -m pytest -q

lint: $(BIN)/madoguchi
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

clean:
	rm -rf $(VENV) var
