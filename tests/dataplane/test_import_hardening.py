"""ImportJob against files made to hurt: every member is checked from its headers before it is
inflated, every field of the file as the API checks it, and an import is all or nothing across
a crash (a retry with its idempotency key gets the job and a token). Against real servers."""
from __future__ import annotations

import io
import json
import pathlib
import random
import threading
import time
import zipfile

import numpy as np
import pytest

import lrctl
from tests.support.server_process import ServerProcess

STATE_LIMIT = 64 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("imports"), ["--max-optimizer-state-bytes", str(STATE_LIMIT)]).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def exported(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real export of a small Adam job at step 2."""
    path = tmp_path_factory.mktemp("export") / "source.lrctl"
    with lrctl.Client(server.address) as client:
        job = client.create_job("source", {"lr": 0.1}, optimizer={"adam": {}})
        job.init_params({"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
        for step in range(2):
            job.step(step, {"w": np.ones((2, 3), np.float32)}, reply="none")
        job.export(path)
    return path.read_bytes()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rebuilt(parts: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    body = io.BytesIO()
    np.lib.format.write_array_header_1_0(body, {"descr": descr, "fortran_order": False, "shape": shape})
    return body.getvalue()


def meta_of(data: bytes) -> dict:
    return json.loads(str(np.load(io.BytesIO(members(data)["meta.npy"]), allow_pickle=False)))


def with_meta(data: bytes, change) -> bytes:
    parts = members(data)
    meta = meta_of(data)
    change(meta)
    body = io.BytesIO()
    np.save(body, np.array(json.dumps(meta)))
    parts["meta.npy"] = body.getvalue()
    return rebuilt(parts)


def import_bytes(client: lrctl.Client, data: bytes, job_id: str, tmp_path: pathlib.Path) -> lrctl.Job:
    path = tmp_path / f"{job_id}.lrctl"
    path.write_bytes(data)
    return client.import_job(path, job_id)


def refused(client: lrctl.Client, data: bytes, job_id: str, tmp_path: pathlib.Path, kind: type) -> lrctl.LrctlError:
    with pytest.raises(kind) as error:
        import_bytes(client, data, job_id, tmp_path)
    with pytest.raises(lrctl.NotFound):
        client.get_job(job_id)  # a refused import leaves nothing
    return error.value


def rss(server: ServerProcess) -> int:
    for line in pathlib.Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_zip_bomb_is_refused_from_its_headers_before_it_inflates(server: ServerProcess, exported: bytes,
                                                                   tmp_path: pathlib.Path) -> None:
    elements = 128 << 20  # 512 MiB of float32 zeros: a few hundred KiB deflated
    parts = members(exported)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.npy", parts["meta.npy"])
        with archive.open("params.npy", "w", force_zip64=True) as member:
            member.write(npy_header((elements,)))
            zeros = bytes(8 << 20)
            for _ in range(elements * 4 // len(zeros)):
                member.write(zeros)
    bomb = out.getvalue()
    assert len(bomb) < 4 << 20
    before = rss(server)
    with lrctl.Client(server.address) as client:
        error = refused(client, bomb, "bomb", tmp_path, lrctl.ResourceExhausted)
    assert "optimizer state limit reached: job 'bomb' needs at least 2147483648 bytes" in str(error)
    assert "(--max-optimizer-state-bytes)" in str(error)
    assert rss(server) - before < 100 << 20, "nothing close to the declared size was inflated"


@pytest.mark.parametrize("case", ["no npy header", "header and zip disagree", "fortran order", "float64",
                                  "object array", "corrupt deflate data", "encrypted flag", "bzip2 member",
                                  "4 TiB declared", "no metadata", "not a zip", "a stray member"])
def test_a_member_that_is_not_what_it_should_be_is_invalid_argument(server: ServerProcess, exported: bytes,
                                                                    tmp_path: pathlib.Path, case: str) -> None:
    parts = members(exported)
    params = parts["params.npy"]
    compression = zipfile.ZIP_STORED
    expect: type = lrctl.InvalidArgument
    if case == "no npy header":
        parts["params.npy"] = b"plain bytes, no npy magic"
    elif case == "header and zip disagree":
        parts["params.npy"] = npy_header((1000,)) + bytes(24)
    elif case == "fortran order":
        body = io.BytesIO()
        np.lib.format.write_array_header_1_0(body, {"descr": "<f4", "fortran_order": True, "shape": (2, 3)})
        parts["params.npy"] = body.getvalue() + bytes(24)
    elif case == "float64":
        parts["params.npy"] = npy_header((6,), "<f8") + bytes(48)
    elif case == "object array":
        parts["params.npy"] = npy_header((6,), "|O") + bytes(48)
    elif case == "4 TiB declared":
        parts["params.npy"] = npy_header((1 << 40,)) + bytes(24)
        expect = lrctl.ResourceExhausted
    elif case == "no metadata":
        del parts["meta.npy"]
    elif case == "a stray member":
        parts["notes.txt"] = b"hello"
    data = rebuilt(parts, compression)
    if case == "corrupt deflate data":
        data = rebuilt(parts, zipfile.ZIP_DEFLATED)
        offset = data.index(zlib_compressed(params)[:8]) if zlib_compressed(params)[:8] in data else None
        assert offset is not None
        data = data[:offset + 4] + bytes(b ^ 0xFF for b in data[offset + 4:offset + 12]) + data[offset + 12:]
    elif case == "encrypted flag":
        data = set_flag(data, "params.npy", 0x1)
    elif case == "bzip2 member":
        data = rebuilt(parts, zipfile.ZIP_BZIP2)
    elif case == "not a zip":
        data = b"PK\x03\x04 but nothing after"
    with lrctl.Client(server.address) as client:
        error = refused(client, data, f"bad-{case.replace(' ', '-')}", tmp_path, expect)
    assert error.code.name in ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED")


def zlib_compressed(data: bytes) -> bytes:
    import zlib

    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def set_flag(data: bytes, name: str, flag: int) -> bytes:
    """`data` with general-purpose flag bits `flag` set on `name`, in its local header and its
    central directory entry."""
    raw = bytearray(data)
    encoded = name.encode()
    for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            if raw[start + name_offset:start + name_offset + len(encoded)] == encoded:
                raw[start + flag_offset] |= flag
            start += 4
    return bytes(raw)


@pytest.mark.parametrize("field, value", [("next_step", 2**70), ("next_step", -7), ("optimizer_step", -1),
                                          ("skipped_nonfinite", 2**64 + 5), ("next_step", 5), ("last_skipped", 3),
                                          ("next_step", "2")])
def test_every_field_of_the_file_is_checked_as_the_api_checks_it(server: ServerProcess, exported: bytes,
                                                                 tmp_path: pathlib.Path, field: str, value) -> None:
    data = with_meta(exported, lambda meta: meta["arrays"].__setitem__(field, value))
    with lrctl.Client(server.address) as client:
        error = refused(client, data, f"meta-{field}-{abs(hash(str(value))) % 1000}", tmp_path, lrctl.InvalidArgument)
    assert [name for name, _ in error.field_violations] == [f"file.meta.{field}"]


def _set(path: str, value):
    def change(meta: dict) -> None:
        *parents, leaf = path.split(".")
        target = meta["policy_state"]
        for key in parents:
            target = target[key]
        target[leaf] = value
    return change


@pytest.mark.parametrize("path, value, field", [
    ("plateau.num_bad_reports", -1, "plateau.num_bad_reports"),
    ("plateau.num_bad_reports", 2**63, "plateau.num_bad_reports"),
    ("last_report_step", 2**64 + 5, "last_report_step"),
    ("early_stopping.stopped_step", -7, "early_stopping.stopped_step"),
    ("plateau.scales", [[3, "nan"]], "plateau.scales[0][1]"),
    ("plateau.scales", [[3, -5.0]], "plateau.scales[0][1]"),
    ("plateau.scales", [[4, 0.5], [2, 0.25]], "plateau.scales"),
    ("plateau.best", "inf", "plateau.best"),
    ("override", {"lr": -0.0, "scale": None, "until_step": 0, "reason": ""}, "override.lr"),
    ("override", {"lr": None, "scale": 0.5, "until_step": -1, "reason": ""}, "override.until_step"),
])
def test_the_policy_state_in_a_file_is_held_to_what_the_api_could_have_made(
        server: ServerProcess, exported: bytes, tmp_path: pathlib.Path, path: str, value, field: str) -> None:
    """Before: these were accepted, and a bad counter made GetJob and ListJobs of the whole
    server answer UNKNOWN until the job was deleted; a NaN or negative scale broke every later
    step of the job."""
    data = with_meta(exported, _set(path, value))
    job_id = f"state-{path.replace('.', '-')}-{abs(hash(str(value))) % 1000}"
    with lrctl.Client(server.address) as client:
        error = refused(client, data, job_id, tmp_path, lrctl.InvalidArgument)
        assert [name for name, _ in error.field_violations] == [f"file.meta.policy_state.{field}"]
        assert "source" in {job.job_id for job in client.jobs()}


def test_an_import_is_retried_with_its_key_and_gets_the_job_and_a_token(server: ServerProcess, exported: bytes,
                                                                        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "again.lrctl"
    path.write_bytes(exported)
    with lrctl.Client(server.address) as client:
        first = client.import_job(path, "again", idempotency_key="key-1")
        retry = client.import_job(path, "again", idempotency_key="key-1")
        assert first.token and retry.token and first.token != retry.token
        assert retry.pull().step == 2
        with pytest.raises(lrctl.AlreadyExists):
            client.import_job(path, "again", idempotency_key="another key")


@pytest.mark.load
@pytest.mark.timeout(300)
def test_an_import_killed_at_any_moment_is_all_or_nothing_and_its_retry_completes(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    source = tmp_path / "big.lrctl"
    try:
        with lrctl.Client(server.address) as client:
            values = np.random.default_rng(0).standard_normal(6_000_000).astype(np.float32)
            job = client.create_job("big", {"lr": 0.1}, optimizer={"adam": {}})
            job.init_params({"w": values})
            job.export(source)
        rng = random.Random(0)
        outcomes = []
        for attempt in range(8):
            job_id, key = f"copy-{attempt}", f"key-{attempt}"
            done = threading.Event()

            def run() -> None:
                try:
                    with lrctl.Client(server.address, timeout=60) as client:
                        client.import_job(source, job_id, idempotency_key=key)
                except lrctl.LrctlError:
                    pass
                done.set()

            threading.Thread(target=run, daemon=True).start()
            time.sleep(rng.uniform(0.05, 1.5))
            server.kill()
            done.wait(30)
            server = ServerProcess(tmp_path / "data").start()
            with lrctl.Client(server.address) as client:
                try:
                    step, params = client.job(job_id).pull()
                    outcomes.append("imported")
                    assert params["w"].tobytes() == values.tobytes(), "a job never exists without all of its arrays"
                except lrctl.NotFound:
                    outcomes.append("absent")
                retried = client.import_job(source, job_id, idempotency_key=key)
                assert retried.token, "the retry is answered a working token"
                assert client.job(job_id).pull().params["w"].tobytes() == values.tobytes()
        assert set(outcomes) <= {"imported", "absent"}
    finally:
        server.kill()
