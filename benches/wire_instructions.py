"""Server instructions per short statement, counted by callgrind: the same
for the same binary whatever else this shared machine is doing, so two builds
compare to a fraction of a percent where wall-clock timings move by tens of
percent (wire_compare.py measures against PostgreSQL; this measures a change).

    .venv-clients/bin/python benches/wire_instructions.py BINARY [N]

Starts BINARY under `valgrind --tool=callgrind` on a fresh data directory,
runs 300 warm-up statements, zeroes the counters, runs N (default 2000) of
each statement through psycopg 3 (which prepares a statement after its fifth
execution, as wire_compare.py's clients do), dumps and prints the server's
instructions per statement. Needs valgrind (Debian's package); the clients'
venv comes from scripts/client-tests.sh. To compare two commits, build each
with `cargo build --release --bin quarry`, copy the binary aside, and run
this on both."""
import os, re, socket, subprocess, sys, tempfile, time, glob
import psycopg

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
d = tempfile.mkdtemp()
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
out = os.path.join(d, "cg.out")
log = open(os.path.join(d, "log"), "w")
p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
                      "--data-dir", os.path.join(d, "db"), "--pg-listen", f"127.0.0.1:{port}",
                      "--http-listen", "127.0.0.1:0", "--no-demo"], stdout=log, stderr=log)
dsn = f"host=127.0.0.1 port={port} user=quarry dbname=quarry"
for _ in range(600):
    try:
        con = psycopg.connect(dsn, autocommit=True); break
    except Exception:
        time.sleep(0.5)
cur = con.cursor()
def total():
    subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, capture_output=True)
    time.sleep(1)
    files = sorted(glob.glob(out + "*"), key=os.path.getmtime)
    text = open(files[-1]).read()
    m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    return int(m.group(1))
results = {}
for label, q, params in [("SELECT 1", "SELECT 1", None), ("SELECT $1::int", "SELECT %s::int", (1,))]:
    for _ in range(300):
        cur.execute(q, params).fetchone()
    subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True)
    for _ in range(n):
        cur.execute(q, params).fetchone()
    results[label] = total() / n
con.close()
p.terminate(); p.wait()
for k, v in results.items():
    print(f"{k}: {v:,.0f} server instructions per statement")
