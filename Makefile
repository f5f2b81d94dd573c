# AutoStock NAS. `make run` brings the platform up; `make test` runs the tests.
# Both install what is missing (Debian packages, a virtualenv, the pinned package) first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := postgresql redis-server nats-server
SHARED_DIR ?= $(abspath ../shared)
PYTEST_ARGS ?=
export SHARED_DIR

.PHONY: setup run test bench services services-down migrate clean lint deploy shrinkwrap gateway-config

setup: $(STAMP)

# Debian packages only when a binary is missing, so a warm machine never calls apt.
.debs:
	@missing=""; \
	command -v pg_ctlcluster >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing="$$missing nats-server"; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): shared/pyproject.toml | .debs
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e 'shared[test]'
	@touch $(STAMP)

.env: | setup
	$(BIN)/autostock init-env --path .env

run: setup .env
	$(BIN)/autostock dev --env-file .env

services: setup
	$(BIN)/autostock services up --env-file .env

services-down: setup
	$(BIN)/autostock services down

migrate: setup .env
	$(BIN)/autostock migrate --env-file .env

# Tests bring their own services when the configured ones do not answer, and stop them after.
# The linter runs first: an unused import or an undefined name fails `make test` (and CI).
test: lint
	$(BIN)/autostock services run -- $(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/autostock services run -- $(BIN)/python -m bench

# nginx routes for the NAS front, derived from stack.yml (infra/nginx/nginx.conf includes them).
gateway-config: setup
	$(BIN)/autostock gateway-config --out infra/nginx/routes.conf

shrinkwrap:
	$(BIN)/autostock build-context --out build

clean:
	rm -rf build .pytest_cache .coverage htmlcov
