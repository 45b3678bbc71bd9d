# dms-admin. `make run` to try it, `make test` for the whole suite (provisions what it needs).
SHELL := /bin/bash
PY := .venv/bin/python
export DJANGO_SETTINGS_MODULE ?= dms_admin.settings_test

.PHONY: run test test-fast faults lint check bench venv migrations-check clean

run:
	scripts/run.sh

venv:
	scripts/provision.sh test

# Everything: Redis, a private Docker engine, the test mail image, Chromium; then the suite.
test:
	scripts/test.sh

# Only what needs no Docker engine or browser (quick feedback while coding).
test-fast: venv
	$(PY) -m pytest -m "not docker and not browser" -q

# The fault-injection suite alone (also part of `make test`), with the time each test took.
faults: venv
	$(PY) -m pytest -m faults tests/faults -q -s --durations=0

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy dms_admin access accounts spam backups mailrules

check: venv migrations-check
	DJANGO_SETTINGS_MODULE=dms_admin.settings SECRET_KEY=$$(head -c 60 /dev/urandom | base64 -w0) \
	  ALLOWED_HOSTS=mail.example.com BEHIND_TLS=1 DMS_CONFIG_DIR=$$(mktemp -d) \
	  $(PY) manage.py check --deploy --fail-level WARNING

migrations-check: venv
	$(PY) manage.py makemigrations --check --dry-run

bench: venv
	$(PY) -m bench

clean:
	rm -rf var .venv
