# The two commands of the README. Both create ./.venv and install everything on first use; the first also
# fetches Apache Kafka's broker jars with Maven into ./.kafka (needs a Java 17+ runtime and Maven).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test lint bench clean

up: $(VENV)/.installed  ## the whole system on the embedded default (Kafka broker + chdb), live view
	$(BIN)/dvcpulse broker --fetch-only
	$(BIN)/dvcpulse up

test: $(VENV)/.installed  ## lint + the whole test suite (real Apache Kafka broker and ClickHouse engine)
	$(BIN)/ruff check .
	$(BIN)/dvcpulse broker --fetch-only
	$(BIN)/python -m pytest -q --durations=20

lint: $(VENV)/.installed
	$(BIN)/ruff check .

bench: $(VENV)/.installed  ## 1M events end to end; prints events/s, freshness, memory
	$(BIN)/dvcpulse broker --fetch-only
	$(BIN)/python bench/pipeline_bench.py

.PHONY: grafana-build grafana-check

grafana-build: $(VENV)/.installed  ## the plugin-driver probe, Grafana 11.6 and its ClickHouse plugin into ./.grafana (Go)
	nice $(BIN)/python deploy/grafana/build.py

grafana-check: $(VENV)/.installed  ## dashboards and alert rules through the plugin's driver and Grafana (deploy/grafana)
	DVCPULSE_GRAFANA_CHECK=1 $(BIN)/python -m pytest -q tests/deploy/test_grafana_check.py

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

clean:
	rm -rf $(VENV) data .kafka
