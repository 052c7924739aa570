"""Large protobuf messages with and without `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (the
Dockerfiles set it), side by side, in one run.

glibc reads tunables once, at process start, so each condition runs in its own child
process; the children alternate (with, without, with, ...) for `--rounds` rounds so that
drift on a shared machine hits both alike. Each child measures, with lrctl.v1.EchoMessage:
  - SerializeToString and FromString of a 64 MiB and a 4 MiB `payload` (bytes field);
  - reading `.payload` of a parsed 64 MiB message (upb copies the field on each read);
  - a gRPC EchoStream round trip of 64 MiB in 1 MiB chunks over loopback, against a real
    `lrctl serve` started by that child, so the server runs under the same condition.
It prints medians per condition and the without/with time ratio (> 1: the tunable helps),
plus the transparent-huge-page mode and the AnonHugePages the children ended with, and
writes bench/results/large_messages.json.

    python bench/large_messages.py [--rounds 4] [--repeat 11]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TUNABLE = "glibc.malloc.hugetlb=1"
MIB = 1 << 20
STREAM_BYTES, CHUNK_BYTES = 64 * MIB, 1 * MIB
CONDITIONS = {"with": TUNABLE, "without": None}


def _times(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up: first-touch costs of the interpreter and of grpc are not the subject
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _anon_huge_pages_kib(pid: int | str = "self") -> int:
    """Anonymous memory of a process backed by transparent huge pages."""
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return -1


def _protobuf_times(echo: type, size_mib: int, repeat: int) -> dict[str, list[float]]:
    """Serialize and parse of one EchoMessage of `size_mib` MiB (and, at 64 MiB, reading its
    payload); the message is freed on return, before the next size is measured."""
    message = echo(payload=os.urandom(size_mib * MIB))
    wire = message.SerializeToString()
    seconds = {f"serialize_{size_mib}MiB": _times(message.SerializeToString, repeat),
               f"parse_{size_mib}MiB": _times(lambda: echo.FromString(wire), repeat)}
    if size_mib == 64:
        parsed = echo.FromString(wire)
        seconds["read_payload_64MiB"] = _times(lambda: parsed.payload, repeat)
    return seconds


def child(repeat: int) -> dict:
    """One condition's measurements, in this process (its GLIBC_TUNABLES is the condition)."""
    import grpc

    from lrctl.v1 import controller_pb2, controller_pb2_grpc
    from tests.support.server_process import ServerProcess

    echo = controller_pb2.EchoMessage
    seconds = {**_protobuf_times(echo, 64, repeat), **_protobuf_times(echo, 4, repeat)}

    data = os.urandom(STREAM_BYTES)

    def chunks() -> Iterator[controller_pb2.EchoMessage]:
        for offset in range(0, STREAM_BYTES, CHUNK_BYTES):
            yield echo(payload=data[offset:offset + CHUNK_BYTES])

    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir)).start()
        try:
            with grpc.insecure_channel(server.address) as channel:
                stub = controller_pb2_grpc.DiagnosticsStub(channel)

                def round_trip() -> None:
                    received = sum(len(reply.payload) for reply in stub.EchoStream(chunks(), timeout=120))
                    assert received == STREAM_BYTES, received

                seconds["echo_stream_64MiB_1MiB_chunks"] = _times(round_trip, repeat)
            server_huge_kib = _anon_huge_pages_kib(server.process.pid)
        finally:
            server.kill()
    return {"seconds": seconds, "client_anon_huge_pages_kib": _anon_huge_pages_kib(),
            "server_anon_huge_pages_kib": server_huge_kib}


def _run_child(condition: str, repeat: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if CONDITIONS[condition]:
        env["GLIBC_TUNABLES"] = CONDITIONS[condition]
    result = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(repeat)], env=env,
                            capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise RuntimeError(f"child ({condition}) failed:\n{result.stderr}")
    return json.loads(result.stdout)


def _read(path: str) -> str:
    try:
        return pathlib.Path(path).read_text().strip()
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="alternating child pairs")
    parser.add_argument("--repeat", type=int, default=11, help="timed repetitions per child and measurement")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        json.dump(child(args.repeat), sys.stdout)
        return

    samples: dict[str, dict[str, list[float]]] = {c: {} for c in CONDITIONS}
    huge_pages: dict[str, list[dict[str, int]]] = {c: [] for c in CONDITIONS}
    for _ in range(args.rounds):
        for condition in CONDITIONS:
            out = _run_child(condition, args.repeat)
            for name, values in out["seconds"].items():
                samples[condition].setdefault(name, []).extend(values)
            huge_pages[condition].append({"client": out["client_anon_huge_pages_kib"],
                                          "server": out["server_anon_huge_pages_kib"]})

    rows = []
    for name in samples["with"]:
        with_s = statistics.median(samples["with"][name])
        without_s = statistics.median(samples["without"][name])
        size = (64 if "64MiB" in name else 4) * MIB
        rows.append({"measurement": name, "with_s": with_s, "without_s": without_s,
                     "with_GBps": size / with_s / 1e9, "without_GBps": size / without_s / 1e9,
                     "speedup_with_over_without": without_s / with_s,
                     "samples_per_condition": len(samples["with"][name])})

    from google.protobuf.internal import api_implementation
    import google.protobuf
    import grpc

    env = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "glibc": os.confstr("CS_GNU_LIBC_VERSION"), "kernel": platform.release(),
           "transparent_hugepage": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
           "transparent_hugepage_defrag": _read("/sys/kernel/mm/transparent_hugepage/defrag"),
           "python": platform.python_version(), "protobuf": google.protobuf.__version__,
           "protobuf_backend": api_implementation.Type(), "grpcio": grpc.__version__}
    print(f"{env['machine']}, {env['cores']} cores, {env['glibc']}, THP {env['transparent_hugepage']}, "
          f"protobuf {env['protobuf']} ({env['protobuf_backend']}), grpcio {env['grpcio']}")
    print(f"{args.rounds} rounds x {args.repeat} repetitions per condition; medians; "
          f"speedup = time without / time with {TUNABLE}")
    print(f"{'measurement':<32}{'with ms':>10}{'without ms':>12}{'with GB/s':>11}{'without GB/s':>14}{'speedup':>9}")
    for r in rows:
        print(f"{r['measurement']:<32}{r['with_s'] * 1e3:>10.2f}{r['without_s'] * 1e3:>12.2f}"
              f"{r['with_GBps']:>11.2f}{r['without_GBps']:>14.2f}{r['speedup_with_over_without']:>9.2f}")
    for condition, pages in huge_pages.items():
        print(f"AnonHugePages at the end, {condition}: "
              + ", ".join(f"client {p['client'] // 1024} MiB / server {p['server'] // 1024} MiB" for p in pages))
    out = REPO / "bench" / "results" / "large_messages.json"
    out.write_text(json.dumps({"tunable": TUNABLE, "rounds": args.rounds, "repeat": args.repeat,
                               "results": rows, "anon_huge_pages_kib": huge_pages, "environment": env},
                              indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
