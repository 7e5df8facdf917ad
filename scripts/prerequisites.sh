#!/usr/bin/env bash
# Installs what dealsync's demo, tests and benchmark need on a fresh Debian/Ubuntu machine, when it is missing:
# the PostgreSQL server programs (initdb, pg_ctl), librdkafka (the Kafka client library, linked by the build), the Python modules and promtool the tests use (--tests), and
# wrk and pgbench the benchmark loads the gateway and PostgreSQL with (--bench).
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! have_postgres; then
  echo "prerequisites: installing PostgreSQL (apt-get install postgresql)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

# librdkafka (the Kafka client the build links against, with its mock cluster) is needed to build at all.
if ! pkg-config --exists rdkafka 2>/dev/null; then
  echo "prerequisites: installing librdkafka (apt-get install librdkafka-dev)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends librdkafka-dev pkg-config >/dev/null
fi

if [ "${1:-}" = "--tests" ]; then
  if ! python3 -c "import jsonschema, openapi_spec_validator, yaml" >/dev/null 2>&1; then
    echo "prerequisites: installing Python modules for the contract tests" >&2
    python3 -m pip install -q jsonschema openapi-spec-validator PyYAML
  fi
  if ! command -v promtool >/dev/null 2>&1; then
    echo "prerequisites: installing promtool (apt-get install prometheus)" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
fi

if [ "${1:-}" = "--bench" ]; then
  # pgbench comes with the PostgreSQL server package installed above.
  if ! command -v wrk >/dev/null 2>&1; then
    echo "prerequisites: installing wrk (apt-get install wrk)" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends wrk >/dev/null
  fi
fi
