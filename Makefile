# Dy 客服助手 — the verbs people use. See README.md.
.PHONY: help hooks setup migrate staff-user sla-sweep train run shell test lint types test-unit validate test-stories test-nlu test-integration test-browser bench eval scale-up scale-down scale-status scale-drain clean

help:
	@echo "make run     set up, train if needed, start the action server and Rasa (Ctrl-C stops)"
	@echo "make test    set up, train if needed, run every test (what CI runs)"
	@echo "make setup | migrate | sla-sweep | train | shell | lint | types | validate | hooks | test-unit | test-stories | test-nlu | test-integration | test-browser | bench | eval | clean"
	@echo "make scale-up | scale-status | scale-drain N=1 | scale-down   the scale-out on this machine"

setup:
	@bash scripts/setup.sh

migrate: setup
	@.venv/bin/python -m tickets.migrate

# make staff-user NAME=zhao.sup ROLE=supervisor   (asks for the password)
staff-user: migrate
	@.venv/bin/python -m tickets.staff create "$(NAME)" --role "$(or $(ROLE),agent)"

# record the SLA warnings and breaches that came due now (the web server does it every 30 s)
sla-sweep: migrate
	@.venv/bin/python -m tickets.sla_sweeper

train: setup
	@bash scripts/train.sh

run: train
	@bash scripts/run.sh

shell: train
	@bash scripts/shell.sh

validate: setup
	@bash scripts/test.sh validate

# the pre-commit hook runs `make validate` before every commit
hooks:
	@mkdir -p .git/hooks && ln -sf ../../scripts/pre-commit .git/hooks/pre-commit && echo "pre-commit hook installed (.git/hooks/pre-commit -> scripts/pre-commit)"

# ruff (check + format) and the import layers; mypy. Both run first in make test.
lint: setup
	@bash scripts/test.sh lint

types: setup
	@bash scripts/test.sh types

test-unit: setup
	@bash scripts/test.sh unit

test-stories: train
	@bash scripts/test.sh stories

test-nlu: train
	@bash scripts/test.sh nlu

test-integration: train
	@bash scripts/test.sh integration

test-browser: train
	@bash scripts/test.sh browser

test: setup
	@bash scripts/test.sh all

bench: train
	@bash scripts/bench.sh

# understanding measured: intents, step answers, baselines, latency (prints, writes results/eval.md)
eval: train
	@bash scripts/test.sh eval

# the scale-out on this machine (deploy/topology.yml): nginx on :8080, two of each server,
# PostgreSQL and Redis, under supervisor; see README "Scale-out"
scale-up: train
	@"$(CURDIR)/.venv/bin/python" scripts/scale.py up

scale-down:
	@"$(CURDIR)/.venv/bin/python" scripts/scale.py down

scale-status:
	@"$(CURDIR)/.venv/bin/python" scripts/scale.py status

scale-drain:
	@test -n "$(N)" || { echo "usage: make scale-drain N=1"; exit 2; }
	@"$(CURDIR)/.venv/bin/python" scripts/scale.py drain $(N)

clean:
	rm -rf results .pytest_cache build tests/artifacts
