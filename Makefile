# The two quick-start commands, and a few more. Each target prepares the host first (idempotent).
.PHONY: up test down lint unit

up:
	bin/prepare-host
	bin/up

test:
	bin/prepare-host
	.venv/bin/pytest

unit:
	bin/prepare-host
	.venv/bin/pytest tests/unit

down:
	bin/prepare-host
	.venv/bin/ansible-playbook -i inventory/hosts-local.yml playbooks/teardown.yml

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
