"""A release Quarry server for the side-by-side benchmarks: started on free
ports with an empty data directory, stopped and cleaned up afterwards."""

import shutil
import socket
import subprocess
import tempfile
import time

import psycopg


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quarry:
    def __init__(self, binary, threads, extra_args=(), demo=False):
        self.dir = tempfile.mkdtemp(prefix="quarry-bench-")
        port, http = free_port(), free_port()
        self.port, self.http = port, http
        self.server = subprocess.Popen(
            [binary, "--data-dir", self.dir, *([] if demo else ["--no-demo"]), "--pg-listen", f"127.0.0.1:{port}",
             "--http-listen", f"127.0.0.1:{http}", "--threads", str(threads), *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        dsn = f"host=127.0.0.1 port={port} user=quarry dbname=quarry"
        for _ in range(100):
            try:
                self.conn = psycopg.connect(dsn, autocommit=True)
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise SystemExit("quarry did not start: " + (self.server.stderr.read() if self.server.stderr else ""))

    def sql(self, text):
        cur = self.conn.execute(text)
        return cur.fetchall() if cur.description else None

    def stop(self):
        self.server.terminate()
        self.server.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
