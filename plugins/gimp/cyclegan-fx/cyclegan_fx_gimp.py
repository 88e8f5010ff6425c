"""The GIMP plug-in's parts that need no GIMP: the menu from the model store, pixel formats, the service.

Standard library only: GIMP runs this with its own Python, which has neither numpy nor torch nor
cyclegan-fx. The work happens in ``cyclegan-fx serve``, found through ``serve.json`` in the project's
home folder and started on demand with the cyclegan-fx that ``cyclegan-fx gimp install`` recorded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

MENU_PATH = "<Image>/Filters/CycleGAN"
INSTALL_RECORD = "install.json"  # beside the plug-in: which cyclegan-fx to start
SERVE_FILE = "serve.json"
START_TIMEOUT = 180.0  # seconds for a new service to answer (importing torch on a busy laptop)
_POLL = 0.25


class PluginError(Exception):
    """Shown to the user as it is: one readable sentence."""


@dataclass(frozen=True)
class ProcedureSpec:
    name: str  # the PDB procedure name
    model: str
    direction: str
    label: str  # the menu label
    work_size: int | None  # the model's recommended long side; None: full resolution


def store_home(environ: dict | None = None) -> Path:
    """``$CYCLEGAN_FX_HOME``, else ``$XDG_DATA_HOME/cyclegan-fx``, else ``~/.local/share/cyclegan-fx``
    (the rule of ``cyclegan_fx.models.store_home``)."""
    environ = os.environ if environ is None else environ
    if environ.get("CYCLEGAN_FX_HOME"):
        return Path(environ["CYCLEGAN_FX_HOME"]).expanduser()
    data = environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "cyclegan-fx"


def procedure_name(model: str, direction: str) -> str:
    """``cyclegan-fx-MODEL-DIRECTION``, every character of the name but letters and digits made '-'."""
    return f"cyclegan-fx-{re.sub(r'[^A-Za-z0-9]', '-', model)}-{direction}"


_TO = re.compile(r"^(.+?)(\s+to\s+)(.+)$", re.IGNORECASE)


def reverse_label(label: str, name: str) -> str:
    """The rule of ``cyclegan_fx.models.bundle.reverse_label``, for model.json files without a b2a label."""
    found = _TO.match(label.strip())
    if found and not _TO.match(found.group(3)):
        return f"{found.group(3)}{found.group(2)}{found.group(1)}"
    return f"{name} (reverse)"


def menu_label(manifest: dict, direction: str) -> str:
    name = str(manifest["name"])
    label = manifest.get("label") if isinstance(manifest.get("label"), str) else name
    if direction == "b2a":
        b2a = manifest.get("label_b2a")
        return b2a if isinstance(b2a, str) and b2a.strip() else reverse_label(label, name)
    return label


def installed_procedures(home: Path) -> list[ProcedureSpec]:
    """One procedure per model and direction in the store, read from the model.json files alone."""
    specs = {}
    for manifest_path in sorted((home / "models").glob("*/model.json")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            directions = [d for d in ("a2b", "b2a") if d in manifest["directions"]]
            work_size = manifest.get("work_size")
            for direction in directions:
                spec = ProcedureSpec(procedure_name(manifest["name"], direction), str(manifest["name"]), direction,
                                     menu_label(manifest, direction), work_size if isinstance(work_size, int) else None)
                specs.setdefault(spec.name, spec)  # two names that differ only in symbols: the first wins
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # a damaged or foreign model.json: no menu entry, the others still load
    return list(specs.values())


def parse_work_size(text: str) -> str | int:
    """The work-size argument: 'model', 'full', or a long side in pixels (at least 16)."""
    value = str(text).strip().lower()
    if value in ("model", "full"):
        return value
    if value.isdigit() and int(value) >= 16:
        return int(value)
    raise PluginError(f"Work size must be 'model', 'full' or a long side of at least 16 pixels, not {text!r}.")


@dataclass(frozen=True)
class PixelFormat:
    babl: str  # what GEGL is asked for, e.g. "R'G'B'A u16"
    dtype: str  # what the service is sent: uint8, uint16 or float32
    channels: int


def pixel_format(precision: str, gray: bool, alpha: bool) -> PixelFormat:
    """How to read a layer at its own precision (non-linear values, as in image files): 8 and 16 bits
    stay integers, every other precision (32-bit integer, half, float, double) travels as float32."""
    component = precision.split("-")[0]  # GIMP's precision nick, e.g. "u16-non-linear"
    sample, dtype = {"u8": ("u8", "uint8"), "u16": ("u16", "uint16")}.get(component, ("float", "float32"))
    model = ("Y'" if gray else "R'G'B'") + ("A" if alpha else "")
    return PixelFormat(f"{model} {sample}", dtype, (1 if gray else 3) + int(alpha))


def little_endian(data: bytes, dtype: str) -> bytes:
    """Native-endian samples (as GEGL gives them) to the service's little-endian, and back."""
    if sys.byteorder == "little" or dtype == "uint8":
        return data
    import array

    samples = array.array({"uint16": "H", "float32": "f"}[dtype], data)
    samples.byteswap()
    return samples.tobytes()


# ---- the service ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str
    pid: int


def read_endpoint(home: Path) -> Endpoint | None:
    try:
        data = json.loads((home / SERVE_FILE).read_text())
        return Endpoint(str(data["url"]), str(data["token"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Client:
    """Requests to one running service (never through a proxy: it is on the loopback)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: list[bytes] | None = None, timeout: float | None = 10.0,
             read: Callable | None = None):
        """Send ``body`` (parts sent one after the other, never joined) and return what ``read`` makes of the
        response (default: all of it); an error answer becomes a PluginError with the service's sentence."""
        headers = {"Authorization": f"Bearer {self.endpoint.token}"}
        if body is not None:
            headers["Content-Length"] = str(sum(len(part) for part in body))
        request = urllib.request.Request(self.endpoint.url + path, data=body, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return read(response) if read is not None else response.read()
        except urllib.error.HTTPError as exc:
            raise PluginError(_error_sentence(exc)) from None
        except (OSError, ValueError) as exc:
            raise PluginError(f"The cyclegan-fx service at {self.endpoint.url} does not answer ({exc}).") from None

    def json(self, method: str, path: str) -> dict:
        return json.loads(self.call(method, path))

    def answers(self) -> bool:
        try:
            return self.json("GET", "/v1/status").get("service") == "cyclegan-fx"
        except (PluginError, ValueError):
            return False


def _error_sentence(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"The cyclegan-fx service answered {exc.code} {exc.reason}."


def read_install_record(plugin_dir: Path) -> dict:
    try:
        record = json.loads((plugin_dir / INSTALL_RECORD).read_text())
        if not isinstance(record.get("python"), str):
            raise ValueError("no python")
        return record
    except (OSError, ValueError, AttributeError):
        raise PluginError("No cyclegan-fx service is running and the plug-in does not know how to start one; "
                          "run 'cyclegan-fx gimp install' again, or start 'cyclegan-fx serve'.") from None


def service_command(record: dict, home: Path) -> tuple[list[str], dict]:
    """The command that starts the recorded cyclegan-fx's service for ``home``, and its environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}  # GIMP's, not ours
    if record.get("pythonpath"):
        env["PYTHONPATH"] = record["pythonpath"]
    env["CYCLEGAN_FX_HOME"] = str(home)
    return [record["python"], "-m", "cyclegan_fx", "serve"], env


def connect(home: Path, plugin_dir: Path, timeout: float = START_TIMEOUT) -> Client:
    """A client of the running service; starts one (and waits for it) when none answers."""
    endpoint = read_endpoint(home)
    if endpoint is not None and Client(endpoint).answers():
        return Client(endpoint)
    command, env = service_command(read_install_record(plugin_dir), home)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "serve.log"
    try:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True, close_fds=True)
    except OSError as exc:
        raise PluginError(f"Cannot start the cyclegan-fx service ({command[0]}: {exc.strerror or exc}); "
                          "run 'cyclegan-fx gimp install' again.") from None
    return _wait_for_service(home, process, log_path, timeout)


def _wait_for_service(home: Path, process: subprocess.Popen, log_path: Path, timeout: float) -> Client:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = read_endpoint(home)
        if endpoint is not None and Client(endpoint).answers():
            return Client(endpoint)  # ours, or one another click started at the same moment
        if process.poll() is not None:
            raise PluginError(f"The cyclegan-fx service could not start: {_last_line(log_path)}")
        time.sleep(_POLL)
    raise PluginError(f"The cyclegan-fx service did not answer within {timeout:.0f} s; see {log_path}.")


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else f"it exited without a message (log: {path})."


# ---- one translation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pixels:
    data: bytes  # C-order, little-endian samples
    height: int
    width: int
    channels: int
    dtype: str


def translate(client: Client, spec: ProcedureSpec, pixels: Pixels, strength: float, work_size: str | int,
              on_progress: Callable[[float], None] | None = None) -> tuple[bytes, dict]:
    """Send the layer's pixels, report the job's progress while it runs; the translated bytes and the
    service's answer header (with the runner's seconds)."""
    job = uuid.uuid4().hex
    header = {"model": spec.model, "direction": spec.direction, "dtype": pixels.dtype, "job": job,
              "shape": [pixels.height, pixels.width, pixels.channels], "strength": strength, "work_size": work_size}
    body = [json.dumps(header).encode() + b"\n", pixels.data]
    outcome: dict = {}

    def read(response) -> tuple[bytes, dict]:
        answer = json.loads(response.readline(65536))
        data = response.read(len(pixels.data))
        if len(data) != len(pixels.data):
            raise PluginError(f"The cyclegan-fx service sent {len(data)} bytes of pixels instead of {len(pixels.data)}.")
        return data, answer

    def send() -> None:
        try:
            outcome["result"] = client.call("POST", "/v1/translate", body, timeout=None, read=read)
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(_POLL)
        if on_progress is not None and worker.is_alive():
            on_progress(_fraction(client, job))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _fraction(client: Client, job: str) -> float:
    try:
        return float(client.json("GET", f"/v1/jobs/{job}").get("fraction", 0.0))
    except (PluginError, ValueError, TypeError):
        return 0.0  # not registered yet, or already gone: the bar just waits

