"""`cyclegan-fx serve`: the loopback HTTP service over warm runners, with the real vintage model."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cyclegan_fx.errors import ServiceError
from cyclegan_fx.models import ModelStore
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.serve import Endpoint, ServiceConfig, read_endpoint, run_service

SMALL = 96  # work size of most requests: keeps the real 9-block model fast


class Running:
    """A service run in a thread of this process; ``stop()`` ends it like SIGTERM would."""

    def __init__(self, home: Path, **config) -> None:
        self.home = home
        self.stop_event = threading.Event()
        ready = threading.Event()
        self.endpoint: Endpoint | None = None
        self.error: BaseException | None = None

        def on_ready(endpoint: Endpoint) -> None:
            self.endpoint = endpoint
            ready.set()

        def serve() -> None:
            try:
                run_service(ServiceConfig(home=home, device="cpu", **config), self.stop_event, on_ready)
            except BaseException as exc:
                self.error = exc
                ready.set()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(120), "the service did not start"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(60)
        assert not self.thread.is_alive()

    def request(self, method: str, path: str, body: bytes | None = None, token: str | None = "good",
                headers: dict | None = None) -> tuple[int, bytes]:
        """Status and body of one request; ``token='good'`` sends the service's token."""
        host, port = self.endpoint.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=300)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {self.endpoint.token if token == 'good' else token}"
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, data

    def json(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        status, data = self.request(method, path, **kwargs)
        return status, json.loads(data)

    def translate(self, pixels: np.ndarray, **fields) -> tuple[int, np.ndarray | dict]:
        header = {"model": "vintage", "shape": list(pixels.shape), "dtype": pixels.dtype.name, "work_size": SMALL,
                  **fields}
        status, data = self.request("POST", "/v1/translate", json.dumps(header).encode() + b"\n" + pixels.tobytes())
        if status != 200:
            return status, json.loads(data)
        head, _, raw = data.partition(b"\n")
        meta = json.loads(head)
        return status, np.frombuffer(raw, dtype=meta["dtype"]).reshape(meta["shape"])


def new_home(tmp_path_factory, name: str) -> Path:
    home = tmp_path_factory.mktemp(name)
    ModelStore(home).names()  # installs the built-in model there
    return home


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    running = Running(new_home(tmp_path_factory, "serve-home"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def runner():
    return open_runner(ModelStore().get("vintage"), "a2b", "cpu")


def test_serve_json_is_private_and_removed_at_exit(tmp_path_factory):
    home = new_home(tmp_path_factory, "lifecycle")
    running = Running(home)
    record = home / "serve.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    endpoint = read_endpoint(home)
    assert endpoint == running.endpoint and endpoint.pid == os.getpid()
    assert endpoint.url.startswith("http://127.0.0.1:") and len(endpoint.token) >= 32
    with pytest.raises(ServiceError, match="running already"):
        run_service(ServiceConfig(home=home), threading.Event())
    running.stop()
    assert not record.exists()


def test_serve_command_with_an_unusable_home_is_one_sentence(tmp_path, monkeypatch):
    from helpers import invoke

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CYCLEGAN_FX_HOME", str(tmp_path / "file" / "home"))
    code, out = invoke("serve", "--device", "cpu")
    assert code == 1 and "Cannot create the home folder" in out and "Traceback" not in out


def test_idle_service_exits_by_itself(tmp_path_factory):
    home = new_home(tmp_path_factory, "idle")
    running = Running(home, idle_timeout=1.0)
    running.thread.join(120)
    assert not running.thread.is_alive()
    assert not (home / "serve.json").exists()


def test_status_and_models(service):
    status, body = service.json("GET", "/v1/status")
    assert status == 200 and body["service"] == "cyclegan-fx" and body["device"] == "cpu"
    status, body = service.json("GET", "/v1/models")
    assert status == 200
    assert {"name": "vintage", "directions": {"a2b": {"label": "Modern to Vintage"}}, "work_size": 1024,
            "training_size": 512} in body["models"]


@pytest.mark.parametrize("token", [None, "wrong", "x" * 500])
def test_every_request_needs_the_token(service, token):
    for method, path in [("GET", "/v1/status"), ("GET", "/v1/models"), ("POST", "/v1/translate")]:
        status, body = service.json(method, path, token=token, body=b"{}\n" if method == "POST" else None)
        assert status == 401 and "token" in body["error"].lower()


def test_translation_equals_the_runner(service, runner, photo):
    """uint8 RGB, uint16 RGBA, float32 gray and 2-D gray: the service gives what apply's runner gives."""
    rgb = photo[:80, :112]
    alpha = np.tile(np.linspace(0, 65535, 112, dtype=np.uint16), (80, 1))
    rgba16 = np.dstack([rgb.astype(np.uint16) * 257, alpha])
    gray = (rgb @ np.array([0.299, 0.587, 0.114])).astype(np.float32)[:, :, None] / 255
    for pixels, strength in [(rgb, 1.0), (rgba16, 1.0), (gray, 0.5), (rgb[:, :, 0], 1.0)]:
        status, result = service.translate(np.ascontiguousarray(pixels), strength=strength)
        assert status == 200, result
        expected = runner.run(pixels, RunOptions(work_size=SMALL, strength=strength))
        assert result.dtype == pixels.dtype and result.shape == pixels.shape
        np.testing.assert_array_equal(result, expected)
    assert not np.array_equal(result, rgb[:, :, 0])  # it did translate


def test_model_defaults_apply_when_a_request_does_not_say(tmp_path_factory, photo, runner):
    running = Running(new_home(tmp_path_factory, "defaults"), options=RunOptions(work_size=64, strength=0.25))
    try:
        pixels = np.ascontiguousarray(photo[:80, :112])
        header = {"model": "vintage", "shape": list(pixels.shape), "dtype": "uint8"}
        status, data = running.request("POST", "/v1/translate", json.dumps(header).encode() + b"\n" + pixels.tobytes())
        assert status == 200
        result = np.frombuffer(data.partition(b"\n")[2], np.uint8).reshape(pixels.shape)
        np.testing.assert_array_equal(result, runner.run(pixels, RunOptions(work_size=64, strength=0.25)))
    finally:
        running.stop()


def good_header(**changes) -> dict:
    return {"model": "vintage", "shape": [64, 64, 3], "dtype": "uint8", "work_size": SMALL, **changes}


def body_of(header: dict | bytes, pixels: bytes | None = None) -> bytes:
    line = header if isinstance(header, bytes) else json.dumps(header).encode()
    return line + b"\n" + (bytes(64 * 64 * 3) if pixels is None else pixels)


REFUSALS = [
    (body_of(b"not json"), 400, "not valid JSON"),
    (body_of(b"[1, 2]"), 400, "JSON object"),
    (b"no newline at all", 400, "header line"),
    (body_of(good_header(model=None)), 400, "'model'"),
    (body_of(good_header(model="../../etc/passwd")), 400, "not allowed"),
    (body_of(good_header(model="/tmp/evil.pth")), 400, "not allowed"),
    (body_of(good_header(model="no-such-model")), 404, "No model named 'no-such-model'"),
    (body_of(good_header(direction="b2a")), 404, "has no b2a generator"),
    (body_of(good_header(direction="sideways")), 400, "'direction'"),
    (body_of(good_header(shape=[64, 64, 5])), 400, "1 to 4 channels"),
    (body_of(good_header(shape=[64, "64", 3])), 400, "'shape'"),
    (body_of(good_header(shape=[0, 64, 3])), 400, "no pixels"),
    (body_of(good_header(shape=[64, 64, 3, 1])), 400, "'shape'"),
    (body_of(good_header(dtype="int32")), 400, "'dtype'"),
    (body_of(good_header(strength=1.5)), 400, "'strength'"),
    (body_of(good_header(strength=True)), 400, "'strength'"),
    (body_of(good_header(work_size=8)), 400, "'work_size'"),
    (body_of(good_header(work_size="huge")), 400, "'work_size'"),
    (body_of(good_header(job="../x")), 400, "'job'"),
    (body_of(good_header(colour="blue")), 400, "Unknown request field"),
    (body_of(good_header(), bytes(100)), 400, "needs 12288"),
    (body_of(good_header(shape=[64, 64], dtype="float32"), np.full(64 * 64, np.nan, np.float32).tobytes()), 400, "NaN"),
    (body_of(good_header(shape=[4, 6, 3]), bytes(4 * 6 * 3)), 422, "at least"),
    (body_of(good_header(shape=[20000, 20000, 3])), 413, "over the service's limit"),
]


@pytest.mark.parametrize("body,status,message", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_bad_requests_get_a_status_and_one_sentence(service, body, status, message):
    got, answer = service.json("POST", "/v1/translate", body=body)
    assert got == status and message in answer["error"], answer
    assert "Traceback" not in answer["error"] and answer["error"].count("\n") == 0


def test_wrong_paths_and_methods(service):
    assert service.json("GET", "/v1/nothing")[0] == 404
    assert service.json("GET", "/v1/translate")[0] == 405
    assert service.json("DELETE", "/v1/models")[0] == 405
    assert service.json("GET", "/v1/jobs/unknown-job")[0] == 404
    assert service.json("POST", "/v1/jobs/unknown-job/cancel")[0] == 404
    status, _ = service.request("POST", "/v1/translate", body=None, headers={"Content-Length": "abc"})
    assert status == 400


def raw_exchange(endpoint: Endpoint, data: bytes) -> bytes:
    """Send bytes as they are (no HTTP library to fix them), half-close, and read whatever comes back."""
    host, port = endpoint.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


def fuzz_request(rng: random.Random, token: str) -> bytes:
    """One malformed request: broken HTTP, wrong lengths, bad JSON, wrong field types, random bytes."""
    auth = f"Authorization: Bearer {token}\r\n"
    junk_header = {"model": rng.choice(["vintage", "", "x" * 80, 5, None, "../v"]),
                   "shape": rng.choice([[64, 64, 3], [-1, 2], [1e9, 1e9], "64x64", [64], None, [64, 64, 3.5]]),
                   "dtype": rng.choice(["uint8", "uint16", "float32", "float64", 3, None]),
                   rng.choice(["strength", "work_size", "job", "direction"]): rng.choice([-1, 2.5, "full", [], {}, "a2b"])}
    payload = json.dumps(junk_header).encode() + b"\n" + bytes(rng.randrange(0, 20000))
    choice = rng.randrange(8)
    if choice == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400)))
    if choice == 1:
        return b"POST /v1/translate HTTP/1.1\r\n" + auth.encode() + b"\r\n" + payload  # no Content-Length
    if choice == 2:  # a Content-Length that lies
        length = rng.choice([0, 1, len(payload) + 5, len(payload) // 2, 10**12])
        return f"POST /v1/translate HTTP/1.1\r\n{auth}Content-Length: {length}\r\n\r\n".encode() + payload
    if choice == 3:
        return f"POST /v1/translate HTTP/1.1\r\n{auth}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
    if choice == 4:
        path = rng.choice(["/", "/v1", "/v1/jobs/%00", "/v1/jobs/" + "a" * 5000, "/../../etc/passwd", "/v1/models?x=1"])
        return f"{rng.choice(['GET', 'POST', 'PATCH', 'BREW'])} {path} HTTP/1.1\r\n{auth}\r\n".encode()
    if choice == 5:
        return f"GET /v1/status HTTP/1.1\r\nAuthorization: {rng.choice(['Bearer', 'Basic abc', 'Bearer é'])}\r\n\r\n".encode()
    if choice == 6:
        line = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))).replace(b"\n", b" ") + b"\n"
        return f"POST /v1/translate HTTP/1.1\r\n{auth}Content-Length: {len(line)}\r\n\r\n".encode() + line
    return b"POST /v1/translate HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n"


def test_fuzz_loop_never_crashes_the_service(service, photo, runner):
    rng = random.Random(1234)
    statuses = []
    for _ in range(300):
        answer = raw_exchange(service.endpoint, fuzz_request(rng, service.endpoint.token))
        assert b"Traceback" not in answer and b'File "' not in answer
        if answer.startswith(b"HTTP/"):
            status = int(answer.split(b" ", 2)[1])
            statuses.append(status)
            assert status < 500, answer[:300]
    assert len(set(statuses)) >= 4 and all(400 <= s < 500 for s in statuses)
    assert service.thread.is_alive()
    pixels = np.ascontiguousarray(photo[:64, :80])
    status, result = service.translate(pixels)
    assert status == 200
    np.testing.assert_array_equal(result, runner.run(pixels, RunOptions(work_size=SMALL)))


def start_translation(service: Running, pixels: np.ndarray, job: str, results: dict, **fields) -> threading.Thread:
    def send() -> None:
        results[job] = service.translate(pixels, job=job, **fields)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def wait_for_state(service: Running, job: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = service.json("GET", f"/v1/jobs/{job}")
        if status == 200 and body["state"] in states:
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job} never reached {states}")


@pytest.fixture(scope="module")
def slow_service(tmp_path_factory):
    """Small tiles: a 256 px image takes many tiles, so a job is slow enough to watch, queue and cancel."""
    running = Running(new_home(tmp_path_factory, "slow-home"), options=RunOptions(tile=64))
    yield running
    running.stop()


def test_jobs_run_one_at_a_time_and_report_progress(slow_service, photo):
    pixels = np.ascontiguousarray(photo[:256, :256])
    results: dict = {}
    first = start_translation(slow_service, pixels, "first", results, work_size="full")
    running = wait_for_state(slow_service, "first", ("running",))
    second = start_translation(slow_service, pixels[:128, :128].copy(), "second", results, work_size="full")
    queued = wait_for_state(slow_service, "second", ("queued", "loading", "running", "done"))
    # Read after the second job's state: a second job past "queued" is only right if the first had ended.
    first_then = slow_service.json("GET", "/v1/jobs/first")[1]["state"]
    assert queued["state"] == "queued" or first_then == "done", (queued["state"], first_then)
    fractions = [running["fraction"]]
    while True:
        # The second job's state is read first: if the first job still runs after it, they overlapped.
        second_state = slow_service.json("GET", "/v1/jobs/second")[1]["state"]
        state = slow_service.json("GET", "/v1/jobs/first")[1]
        if state["state"] != "running":
            break
        fractions.append(state["fraction"])
        if second_state != "queued":
            raise AssertionError("the second job started while the first was running")
        time.sleep(0.05)
    first.join(), second.join()
    assert results["first"][0] == 200 and results["second"][0] == 200
    assert fractions == sorted(fractions) and any(0 < f < 1 for f in fractions), fractions
    assert state["state"] == "done" and state["fraction"] == 1.0 and state["tiles_done"] == state["tiles_total"] > 4


def test_cancel_stops_a_running_job(slow_service, photo):
    pixels = np.ascontiguousarray(np.tile(photo, (3, 2, 1))[:1024, :1024])
    results: dict = {}
    thread = start_translation(slow_service, pixels, "doomed", results, work_size="full")
    wait_for_state(slow_service, "doomed", ("running",))
    status, body = slow_service.json("POST", "/v1/jobs/doomed/cancel")
    assert status == 202
    thread.join(120)
    status, answer = results["doomed"]
    assert status == 409 and "cancelled" in answer["error"]
    final = slow_service.json("GET", "/v1/jobs/doomed")[1]
    assert final["state"] == "cancelled" and final["tiles_done"] < final["tiles_total"]
    assert slow_service.translate(np.ascontiguousarray(photo[:64, :64]))[0] == 200  # and it goes on serving


def test_a_job_whose_client_went_away_is_cancelled(slow_service, photo):
    """GIMP's cancel ends the plug-in: the service stops working on a result nobody will read."""
    # Large enough (about 2000 small tiles) that the job cannot end inside the service's client check.
    pixels = np.ascontiguousarray(np.tile(photo, (3, 2, 1))[:1024, :1024])
    header = {"model": "vintage", "shape": [1024, 1024, 3], "dtype": "uint8", "work_size": "full", "job": "orphan"}
    body = json.dumps(header).encode() + b"\n" + pixels.tobytes()
    host, port = slow_service.endpoint.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(f"POST /v1/translate HTTP/1.1\r\nAuthorization: Bearer {slow_service.endpoint.token}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_for_state(slow_service, "orphan", ("running",))
    final = wait_for_state(slow_service, "orphan", ("cancelled", "done"))
    assert final["state"] == "cancelled" and final["tiles_done"] < final["tiles_total"]


def test_a_job_id_in_use_is_refused(slow_service, photo):
    pixels = np.ascontiguousarray(photo[:256, :256])
    results: dict = {}
    thread = start_translation(slow_service, pixels, "twice", results, work_size="full")
    wait_for_state(slow_service, "twice", ("running",))
    status, answer = slow_service.translate(pixels[:64, :64].copy(), job="twice")
    assert status == 400 and "in use" in answer["error"]
    slow_service.json("POST", "/v1/jobs/twice/cancel")
    thread.join(120)


def test_options_of_a_request_do_not_leak_into_the_next(service, photo, runner):
    pixels = np.ascontiguousarray(photo[:64, :96])
    _, half = service.translate(pixels, strength=0.5)
    _, full = service.translate(pixels)
    np.testing.assert_array_equal(full, runner.run(pixels, replace(RunOptions(), work_size=SMALL)))
    assert not np.array_equal(half, full)
