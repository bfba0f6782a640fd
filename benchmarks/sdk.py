"""Compare the CPU cost of pug, Segment's and PostHog's Python SDKs.

Each SDK runs in a fresh interpreter and sends the same track events to one
loopback sink, a separate process that responds ``200 {}`` to every POST
(``/v1/batch`` for pug and Segment, ``/batch/`` for PostHog) and counts the
events it received. Two figures per SDK:

- caller cost: CPU time of the calling thread per ``track`` call
  (``time.thread_time``), and wall time per call, with the SDK's consumer
  running alongside as in an app;
- total CPU per delivered event: CPU time of the whole process, all threads
  (``time.process_time``), from the first call until the sink has counted
  every event, divided by the events delivered.

Run from the repository root::

    python benchmarks/sdk.py --events 20000 --repeats 5

Results go to stdout as a table; ``--json`` prints the raw figures.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

SDKS = ("pug", "segment", "posthog")
SDK_ROOT = Path(__file__).resolve().parent.parent / "sdk"


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        # Counting needs the batch length only; parsing is the sink's CPU,
        # which is not measured.
        count = len(json.loads(body).get("batch", []))
        with _SinkHandler.lock:
            _SinkHandler.received += count
        self._answer(b"{}")

    def do_GET(self) -> None:
        with _SinkHandler.lock:
            count = _SinkHandler.received
            if self.path == "/reset":
                _SinkHandler.received = 0
        self._answer(json.dumps({"received": count}).encode())

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the sink only counts."""


def run_sink(port_file: str) -> None:
    """Serve on a free loopback port and write the port to ``port_file``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    server.daemon_threads = True
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def sink_count(sink: str, reset: bool = False) -> int:
    with urlopen(sink + ("/reset" if reset else "/count"), timeout=5) as response:
        return int(json.load(response)["received"])


def make_sender(sdk: str, sink: str, events: int, gzip_mode: str) -> tuple[Any, Any]:
    """Return ``(send_one, finish)`` for the SDK: a track call and a flush."""
    gzip_option = {} if gzip_mode == "default" else {"gzip": gzip_mode == "on"}
    queue_size = events + 1_000
    if sdk == "pug":
        sys.path.insert(0, str(SDK_ROOT))
        import pug

        client = pug.Client(
            "bench-key",
            sink,
            max_queue_size=queue_size,
            flush_on_exit=False,
            **gzip_option,
        )
        return client.track, lambda: client.flush(60)
    if sdk == "segment":
        import segment.analytics as segment

        client = segment.Client(
            "bench-key", host=sink, max_queue_size=queue_size, **gzip_option
        )
        return client.track, client.flush
    import posthog

    client = posthog.Posthog(
        "bench-key", host=sink, max_queue_size=queue_size, **gzip_option
    )

    def capture(user_id: str, event: str, properties: dict[str, Any]) -> Any:
        return client.capture(event, distinct_id=user_id, properties=properties)

    return capture, lambda: client.flush()


def run_worker(sdk: str, sink: str, events: int, gzip_mode: str) -> dict[str, Any]:
    """Send ``events`` track calls with one SDK and measure them."""
    send_one, finish = make_sender(sdk, sink, events, gzip_mode)
    user_ids = [f"user-{i % 500}" for i in range(events)]
    properties = [
        {"words": i, "plan": "pro", "source": "editor", "draft": i % 2 == 0}
        for i in range(events)
    ]
    sink_count(sink, reset=True)

    process_start = time.process_time()
    thread_start = time.thread_time()
    wall_start = time.perf_counter()
    for user_id, props in zip(user_ids, properties, strict=True):
        send_one(user_id, "Document Edited", props)
    call_wall = time.perf_counter() - wall_start
    call_cpu = time.thread_time() - thread_start

    finish()
    deadline = time.monotonic() + 60
    delivered = sink_count(sink)
    while delivered < events and time.monotonic() < deadline:
        time.sleep(0.01)
        delivered = sink_count(sink)
    total_cpu = time.process_time() - process_start
    return {
        "sdk": sdk,
        "events": events,
        "delivered": delivered,
        "call_wall_us": call_wall / events * 1e6,
        "call_cpu_us": call_cpu / events * 1e6,
        "cpu_per_event_us": total_cpu / max(delivered, 1) * 1e6,
    }


def measure(sink: str, events: int, repeats: int, gzip_mode: str) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {sdk: [] for sdk in SDKS}
    for _ in range(repeats):
        # Interleaved, so drift of the machine affects each SDK alike.
        for sdk in SDKS:
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    sdk,
                    "--sink",
                    sink,
                    "--events",
                    str(events),
                    "--gzip",
                    gzip_mode,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[sdk].append(json.loads(output.strip().splitlines()[-1]))
    return {sdk: _medians(results) for sdk, results in runs.items()}


def _medians(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("call_wall_us", "call_cpu_us", "cpu_per_event_us")
    summary = {key: statistics.median(r[key] for r in results) for key in keys}
    summary["delivered"] = min(r["delivered"] for r in results)
    return summary


def print_table(gzip_mode: str, figures: dict[str, Any], events: int) -> None:
    segment = figures["segment"]
    print(f"\ngzip={gzip_mode}, {events} events per run, medians")
    print(
        "| SDK | track() CPU us | vs Segment | track() wall us | vs Segment "
        "| CPU per delivered event us | vs Segment | delivered |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for sdk in SDKS:
        row = figures[sdk]
        print(
            f"| {sdk} | {row['call_cpu_us']:.1f} "
            f"| {row['call_cpu_us'] / segment['call_cpu_us']:.2f} "
            f"| {row['call_wall_us']:.1f} "
            f"| {row['call_wall_us'] / segment['call_wall_us']:.2f} "
            f"| {row['cpu_per_event_us']:.1f} "
            f"| {row['cpu_per_event_us'] / segment['cpu_per_event_us']:.2f} "
            f"| {row['delivered']}/{events} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=20_000, help="track calls per run"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per SDK")
    parser.add_argument(
        "--gzip",
        choices=("default", "on", "off", "all"),
        default="all",
        help="gzip setting for every SDK; default keeps each SDK's own",
    )
    parser.add_argument("--json", action="store_true", help="print raw figures")
    parser.add_argument("--worker", choices=SDKS, help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    parser.add_argument("--sink-port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.sink_port_file:
        run_sink(args.sink_port_file)
        return
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.sink, args.events, args.gzip)))
        return

    port_file = Path(f"/tmp/pug-bench-sink-{os.getpid()}.port")
    sink_process = subprocess.Popen(
        [sys.executable, __file__, "--sink-port-file", str(port_file)]
    )
    try:
        for _ in range(500):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.01)
        sink = f"http://127.0.0.1:{port_file.read_text()}"
        modes = ("default", "on", "off") if args.gzip == "all" else (args.gzip,)
        results = {
            mode: measure(sink, args.events, args.repeats, mode) for mode in modes
        }
    finally:
        sink_process.terminate()
        sink_process.wait(5)
        port_file.unlink(missing_ok=True)
    if args.json:
        print(json.dumps(results, indent=2))
    for mode, figures in results.items():
        print_table(mode, figures, args.events)


if __name__ == "__main__":
    main()
