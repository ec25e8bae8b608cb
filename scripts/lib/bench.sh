# Sourced by the side-by-side benchmarks against PostgreSQL
# (benches/*_compare.sh): installs Debian's PostgreSQL server if it is
# missing, builds Quarry (release) and the client venv, then runs the
# Python benchmark named by the caller with its arguments.
#
#   . scripts/lib/bench.sh; run_against_postgres benches/wire_compare.py "$@"
run_against_postgres() {
  local script=$1
  shift
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL server binaries are missing and cannot be installed (not root)" >&2; exit 1
    fi
  fi
  cargo build --release --bin quarry
  local venv=.venv-clients
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
  "$venv/bin/python" "$script" "$@"
}

# The benchmarks without a peer server (benches/compaction.sh,
# benches/serving_compare.sh): builds Quarry (release) and the client venv,
# then runs the Python benchmark named by the caller with its arguments.
run_quarry_bench() {
  local script=$1
  shift
  cargo build --release --bin quarry
  local venv=.venv-clients
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
  "$venv/bin/python" "$script" "$@"
}
