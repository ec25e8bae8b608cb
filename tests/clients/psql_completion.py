"""psql's tab completion against a live Quarry: psql runs in a
pseudo-terminal, a partial statement is typed with two tabs, and the line
must read as psql completes it against PostgreSQL. Completion runs catalog
queries whose errors psql swallows, so a failing one shows up here as a
line left as typed. Standard library only; connects as psql does, from
PGHOST/PGPORT/PGUSER (and PGPASSWORD/PGSSLMODE)."""

import os
import pty
import select
import signal
import subprocess
import sys
import time

SETUP = [
    "DROP TABLE IF EXISTS completion_target",
    "CREATE TABLE completion_target (alpha_col INT, beta_col TEXT)",
    "CREATE SCHEMA IF NOT EXISTS completion_schema",
    "DROP TABLE IF EXISTS completion_schema.nested_table",
    "CREATE TABLE completion_schema.nested_table (x INT)",
    "CREATE OR REPLACE VIEW completion_view AS SELECT alpha_col FROM completion_target",
]

# typed (then two tabs) -> the line psql shows after completing it
CASES = [
    ("SELECT * FROM completion_ta", "SELECT * FROM completion_target "),
    ("\\d completion_ta", "\\d completion_target "),
    ("DROP TABLE completion_ta", "DROP TABLE completion_target "),
    ("DROP VIEW completion_vi", "DROP VIEW completion_view "),
    ("SELECT * FROM completion_schema.", "SELECT * FROM completion_schema.nested_table "),
    ("\\dn completion_s", "\\dn completion_schema "),
    ("ALTER TABLE completion_target RENAME COLUMN alp", "ALTER TABLE completion_target RENAME COLUMN alpha_col TO "),
    ("INSERT INTO completion_target (be", "INSERT INTO completion_target (beta_col "),
    ("UPDATE completion_target SET alp", "UPDATE completion_target SET alpha_col = "),
    ("SELECT * FROM completion_target WHERE alp", "SELECT * FROM completion_target WHERE alpha_col "),
    ("COMMENT ON TABLE completion_ta", "COMMENT ON TABLE completion_target IS "),
    ("SET search_pa", "SET search_path TO "),
    ("GRANT SELECT ON completion_target TO quar", "GRANT SELECT ON completion_target TO quarry "),
    # The database, then the role: PostgreSQL's predefined roles
    # (pg_read_server_files...) are roles too, so the role needs a prefix.
    ("\\c quar", "\\c quarry "),
    ("\\c quarry qu", "\\c quarry quarry "),
    ("\\df ml_predict_pro", "\\df ml_predict_proba "),
]


def typed_and_completed(typed: str) -> str:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("psql", ["psql", "-X", "quarry"])

    def read(seconds: float) -> bytes:
        out, end = b"", time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        return out

    read(2.0)  # the banner and prompt
    os.write(fd, typed.encode() + b"\t\t")
    shown = read(2.0)
    os.write(fd, b"\x03")  # drop the line
    read(0.5)
    os.write(fd, b"\\q\n")
    read(0.5)
    # psql should be gone; never wait for it unboundedly (a psql stuck on
    # its terminal hung a CI run): give it 5 s, then kill it.
    deadline = time.time() + 5
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.05)
    os.close(fd)
    # The line as completed: bells and candidate lists removed.
    return shown.decode(errors="replace").replace("\x07", "").split("\r\n")[0]


def main() -> int:
    for statement in SETUP:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement], check=True)
    failures = []
    for typed, expected in CASES:
        got = typed_and_completed(typed)
        if got.rstrip() != expected.rstrip():
            failures.append(f"{typed!r}: expected {expected!r}, got {got!r}")
    for failure in failures:
        print(f"psql completion: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"psql completion: ok ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
