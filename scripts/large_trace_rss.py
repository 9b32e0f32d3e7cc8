#!/usr/bin/env python3
"""Server RSS while ingesting and reading back one trace of N spans (default 100k).

Starts `mlflow-rs server` on a fresh SQLite database in a temp dir, sends the spans in OTLP
protobuf requests of --per-request spans (as an SDK's batch exporter would), then reads the
trace back (a) streamed whole through `GET /api/3.0/mlflow/traces/get` and (b) paged with the
`span_page_size`/`span_page_token` extension, sampling the server's RSS (from /proc) every
20 ms. The client runs in this separate process, so the numbers are the server's alone.

    .venv/bin/python scripts/large_trace_rss.py target/release/mlflow-rs [--spans 100000]
"""

import argparse
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def finish(self):
        self.stop = True
        self.t.join()
        return self.peak


def kv(k, v):
    return KeyValue(key=k, value=AnyValue(string_value=v))


def request(trace_id, lo, hi, base_ns):
    spans = []
    for i in range(lo, hi):
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=(i + 1).to_bytes(8, "big"),
                parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"),
                name="root" if i == 0 else f"step-{i}",
                start_time_unix_nano=base_ns + i * 1000,
                end_time_unix_nano=base_ns + i * 1000 + (10**9 if i == 0 else 500),
                attributes=[
                    kv("mlflow.spanType", "CHAIN" if i == 0 else "TOOL"),
                    kv("mlflow.spanInputs", json.dumps({"i": i, "q": "lorem ipsum dolor sit amet"})),
                    kv("mlflow.spanOutputs", json.dumps(f"answer {i}")),
                ],
                status=Status(code=1),
            )
        )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", "rss-check")]},
                scope_spans=[ScopeSpans(spans=spans)],
            )
        ]
    ).SerializeToString()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--per-request", type=int, default=5_000)
    ap.add_argument("--page", type=int, default=5_000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="large-trace-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen(
        [a.binary, "server", "--port", str(port), "--backend-store-uri",
         f"sqlite:///{tmp}/mlflow.db", "--artifacts-destination", f"{tmp}/art",
         "--trace-retention-interval", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        req = urllib.request.Request(
            base + "/api/2.0/mlflow/experiments/create",
            data=json.dumps({"name": "large"}).encode(),
            headers={"content-type": "application/json"},
        )
        exp = json.load(urllib.request.urlopen(req))["experiment_id"]
        idle = rss_kib(srv.pid)
        trace = os.urandom(16)
        tid = "tr-" + trace.hex()
        base_ns = time.time_ns()
        smp = Sampler(srv.pid)
        t0 = time.time()
        for lo in range(0, a.spans, a.per_request):
            body = request(trace, lo, min(lo + a.per_request, a.spans), base_ns)
            r = urllib.request.Request(
                base + "/v1/traces", data=body,
                headers={"content-type": "application/x-protobuf",
                         "x-mlflow-experiment-id": exp},
            )
            urllib.request.urlopen(r, timeout=600).read()
        ingest_s, ingest_peak = time.time() - t0, smp.finish()

        smp = Sampler(srv.pid)
        t0 = time.time()
        n_bytes = 0
        with urllib.request.urlopen(f"{base}/api/3.0/mlflow/traces/get?trace_id={tid}", timeout=600) as r:
            while chunk := r.read(1 << 16):
                n_bytes += len(chunk)
        stream_s, stream_peak = time.time() - t0, smp.finish()

        smp = Sampler(srv.pid)
        t0 = time.time()
        token, n = None, 0
        while True:
            url = f"{base}/api/3.0/mlflow/traces/get?trace_id={tid}&span_page_size={a.page}"
            if token:
                url += f"&span_page_token={token}"
            page = json.load(urllib.request.urlopen(url, timeout=600))
            n += len(page["trace"]["spans"])
            token = page.get("next_span_page_token")
            if not token:
                break
        paged_s, paged_peak = time.time() - t0, smp.finish()
        assert n == a.spans, n
        print(f"spans: {a.spans} in requests of {a.per_request}")
        print(f"idle RSS: {idle / 1024:.0f} MiB")
        print(f"ingest: {ingest_s:.1f} s ({a.spans / ingest_s:,.0f} spans/s), peak RSS {ingest_peak / 1024:.0f} MiB")
        print(f"streamed traces/get: {stream_s:.1f} s, {n_bytes / 2**20:.0f} MiB body, peak RSS {stream_peak / 1024:.0f} MiB")
        print(f"paged traces/get ({a.page}/page): {paged_s:.1f} s, peak RSS {paged_peak / 1024:.0f} MiB")
    finally:
        srv.terminate()
        srv.wait(10)


if __name__ == "__main__":
    main()
