#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh Debian machine:
#   bash tests/run.sh [extra pytest arguments]
# Installs (as root) Debian's chromium + chromium-driver (browser tests),
# postgresql (the store suite also runs against a real server) and
# fitsverify; creates .venv with the project and its test extras; starts a
# throwaway PostgreSQL cluster on loopback; runs pytest; stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v fitsverify >/dev/null || need_apt+=(fitsverify)
command -v scamp >/dev/null || need_apt+=(scamp)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "tests/run.sh: please install: ${need_apt[*]} (Debian packages)" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/pip install -q ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import relphot_core, dashboard" # fail early if the install failed

# A throwaway PostgreSQL cluster on loopback, owned by the postgres user
# (initdb refuses root).
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DIR=$(mktemp -d /tmp/relphot-pg.XXXXXX)
PG_PORT=${RELPHOT_PG_PORT:-55432}
chmod 755 "$PG_DIR"
started_pg=0
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$PG_DIR"
  su postgres -c "$PG_BIN/initdb -D $PG_DIR/data --auth=trust -U postgres" >/dev/null
  su postgres -c "$PG_BIN/pg_ctl -D $PG_DIR/data -o '-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1' -w -l $PG_DIR/log start" >/dev/null
else
  "$PG_BIN/initdb" -D "$PG_DIR/data" --auth=trust -U postgres >/dev/null
  "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1" -w -l "$PG_DIR/log" start >/dev/null
fi
started_pg=1
stop_pg() {
  if [ "$started_pg" = 1 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      su postgres -c "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop" >/dev/null 2>&1 || true
    else
      "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
  fi
}
trap stop_pg EXIT
export RELPHOT_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"

# Tests run from the installed package, from the repository root.
.venv/bin/python -m pytest -p no:cacheprovider "$@"
