# Sourced by the test scripts: starts a Quarry server on a temporary data
# directory and a free port, and stops it (removing the directory) on exit.
# Called again, it starts another; all are stopped on exit.
#
#   start_quarry [quarry arguments...]
# sets: data (the temporary directory), log (the server's log), port,
# http_port, pid.
quarry_pids=()
quarry_dirs=()
stop_quarries() {
  local p
  for p in "${quarry_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${quarry_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "${quarry_dirs[@]}"
}
start_quarry() {
  data=$(mktemp -d)
  log="$data/quarry.log"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" --data-dir "$data/db" --pg-listen "127.0.0.1:$port" --http-listen 127.0.0.1:0 "$@" 2>"$log" &
  pid=$!
  quarry_pids+=("$pid")
  quarry_dirs+=("$data")
  trap stop_quarries EXIT
  for _ in $(seq 1 600); do
    if grep -q "quarry ready" "$log"; then
      http_port=$(sed -n 's/.*(http 127\.0\.0\.1:\([0-9]*\)).*/\1/p' "$log" | head -1)
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "quarry did not start" >&2; cat "$log" >&2; exit 1
}
