#!/usr/bin/env python3
"""Streaming memory check for the artifact proxy.

Starts `mlflow-rs server` (or the official server with --official) on a temp SQLite store and
a local (or --s3 moto) artifact destination, PUTs a SIZE-byte artifact generated on the fly
(chunked upload, never held in memory on the client), GETs it back while checking its bytes,
and samples the server's RSS (/proc/<pid>/status VmRSS, whole process group for the
official server) every 50 ms. Fails when RSS grows more than --max-growth-mib above the
idle baseline.

    python scripts/artifact_stream_rss.py --bin target/release/mlflow-rs --size-gib 2
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

CHUNK = 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getpgid(int(d)) == pgid:
                    out.append(int(d))
            except OSError:
                pass
    return out


class Sampler(threading.Thread):
    def __init__(self, pgid):
        super().__init__(daemon=True)
        self.pgid = pgid
        self.peak = 0
        self.stop = False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(group_pids(self.pgid)))
            time.sleep(0.05)


def pattern(i):
    return bytes([(i * 7 + j) % 251 for j in range(256)]) * (CHUNK // 256)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", help="mlflow-rs binary (default target/release or target/debug)")
    ap.add_argument("--official", action="store_true", help="measure the official server instead")
    ap.add_argument("--size-gib", type=float, default=2.0)
    ap.add_argument("--max-growth-mib", type=float, default=50.0)
    ap.add_argument("--s3", action="store_true", help="S3 destination on a moto_server")
    args = ap.parse_args()

    n_chunks = int(args.size_gib * 1024)
    size = n_chunks * CHUNK
    chunks = [pattern(i) for i in range(16)]  # 16 distinct 1 MiB blocks, cycled
    tmp = tempfile.mkdtemp(prefix="rss-check-")
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    procs = []
    try:
        dest = os.path.join(tmp, "artifacts")
        if args.s3:
            moto = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
            mport = free_port()
            procs.append(subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(mport)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
            for _ in range(300):
                try:
                    requests.put(f"http://127.0.0.1:{mport}/rss", timeout=2)
                    break
                except requests.RequestException:
                    time.sleep(0.2)
            dest = "s3://rss/dest"
            env.update(MLFLOW_S3_ENDPOINT_URL=f"http://127.0.0.1:{mport}", AWS_ACCESS_KEY_ID="testing",
                       AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        port = free_port()
        common = ["--backend-store-uri", f"sqlite:///{tmp}/db.sqlite", "--artifacts-destination", dest,
                  "--host", "127.0.0.1", "--port", str(port)]
        if args.official:
            cmd = [sys.executable, "-m", "mlflow", "server", *common, "--workers", "1"]
        else:
            binary = args.bin or next(
                (p for p in ("target/release/mlflow-rs", "target/debug/mlflow-rs") if os.path.exists(p)), None)
            if not binary:
                sys.exit("no mlflow-rs binary; pass --bin")
            cmd = [binary, "server", *common]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=env, start_new_session=True)
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if requests.get(base + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        url = f"{base}/api/2.0/mlflow-artifacts/artifacts/0/rss/artifacts/big.bin"
        requests.get(f"{base}/api/2.0/mlflow-artifacts/artifacts?path=0", timeout=30)  # warm up
        time.sleep(1)
        baseline = rss_kib(group_pids(server.pid))
        sampler = Sampler(server.pid)
        sampler.start()

        def body():
            for i in range(n_chunks):
                yield chunks[i % 16]

        t0 = time.time()
        r = requests.put(url, data=body(), timeout=3600)
        t_up = time.time() - t0
        r.raise_for_status()
        t0 = time.time()
        got = 0
        with requests.get(url, stream=True, timeout=3600) as r:
            r.raise_for_status()
            buf = b""
            i = 0
            for part in r.iter_content(CHUNK):
                buf += part
                while len(buf) >= CHUNK:
                    if buf[:CHUNK] != chunks[i % 16]:
                        sys.exit(f"content mismatch in MiB {i}")
                    buf = buf[CHUNK:]
                    i += 1
                got += len(part)
        t_down = time.time() - t0
        sampler.stop = True
        sampler.join()
        growth = (sampler.peak - baseline) / 1024
        print(f"server: {'official' if args.official else cmd[0]}  destination: {dest}")
        print(f"size: {size / 2**30:.2f} GiB  received back: {got / 2**30:.2f} GiB")
        print(f"upload: {t_up:.1f} s ({size / 2**20 / t_up:.0f} MiB/s)  "
              f"download: {t_down:.1f} s ({size / 2**20 / t_down:.0f} MiB/s)")
        print(f"RSS baseline: {baseline / 1024:.1f} MiB  peak: {sampler.peak / 1024:.1f} MiB  "
              f"growth: {growth:.1f} MiB (limit {args.max_growth_mib} MiB)")
        if got != size:
            sys.exit("size mismatch")
        if growth > args.max_growth_mib:
            sys.exit("FAIL: RSS growth over the limit")
        print("OK")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except Exception:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except Exception:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
