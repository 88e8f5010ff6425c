"""`cyclegan-fx models download` against a real local HTTP server serving official-layout generator files."""

from __future__ import annotations

import hashlib
import io
import random
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from helpers import invoke, save_with_code, tiny_generator

from cyclegan_fx.models import ModelStore
from cyclegan_fx.models.download import download_path
from cyclegan_fx.networks import load_generator

S2W = ("summer2winter_yosemite.pth", "winter2summer_yosemite.pth")


@dataclass
class Mirror:
    """What the server serves, how it treats Range, and what it was asked."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    cut_after: int | None = None  # close the connection after this many body bytes, Content-Length unchanged
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)  # (file, Range header, bytes sent)

    def file_url(self, name: str) -> str:
        return f"{self.url}/{name}"


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.removeprefix("/mirror/")
            body, asked = mirror.files.get(name), self.headers.get("Range")
            if body is None:
                mirror.requests.append((name, asked, 0))
                self.send_error(404)
                return
            start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1)) if asked and mirror.honour_range else 0
            if start >= len(body) > 0 and asked and mirror.honour_range:
                mirror.requests.append((name, asked, 0))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            sent = body[start:][: mirror.cut_after]
            self.wfile.write(sent)
            mirror.requests.append((name, asked, len(sent)))

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def mirror() -> Mirror:
    state = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/mirror"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CYCLEGAN_FX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CYCLEGAN_FX_MODELS_URL", raising=False)
    return tmp_path / "home"


def generator_bytes(seed: int) -> bytes:
    """An official-layout ResNet generator file (small: 8 filters, 2 blocks)."""
    buffer = io.BytesIO()
    torch.save(tiny_generator(seed).net.state_dict(), buffer)
    return buffer.getvalue()


def serve_s2w(mirror: Mirror) -> None:
    mirror.files.update({S2W[0]: generator_bytes(1), S2W[1]: generator_bytes(2)})


def stored(home: Path) -> list[str]:
    """Everything under the store other than its cache: models, and any staging folder left behind."""
    paths = home.rglob("*") if home.is_dir() else []
    return sorted(str(p.relative_to(home)) for p in paths if p.relative_to(home).parts[0] != "cache")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_one_sentence_error(code: int, out: str, *fragments: str) -> None:
    assert code == 1, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, out
    for fragment in fragments:
        assert fragment in errors[0], out


def test_s2w_installs_both_directions_into_one_bundle(home, mirror, tmp_path):
    serve_s2w(mirror)
    code, out = invoke("models", "download", "s2w", "--url", mirror.url)
    assert code == 0, out
    assert "Installed summer2winter" in out
    size = f"{len(mirror.files[S2W[0]]) / 1e6:.1f}"
    assert f"Downloading {mirror.file_url(S2W[0])} ({size} MB)" in out
    assert f"{S2W[0]}: {size}/{size} MB" in out  # the progress line (stderr is no terminal here)
    model = ModelStore().get("summer2winter")
    assert sorted(model.info.directions) == ["a2b", "b2a"]
    assert (model.info.menu_label("a2b"), model.info.menu_label("b2a")) == ("Summer to Winter", "Winter to Summer")
    assert model.info.training_size == 256
    for direction, file in zip(("a2b", "b2a"), S2W):
        provenance = model.info.provenance[direction]
        assert provenance["sha256"] == sha256(mirror.files[file])
        assert provenance["url"] == mirror.file_url(file)
        (tmp_path / file).write_bytes(mirror.files[file])
        served, installed = load_generator(tmp_path / file).net, model.generator(direction).net
        assert served.state_dict().keys() == installed.state_dict().keys()
        assert all(torch.equal(v, installed.state_dict()[k]) for k, v in served.state_dict().items())
        x = torch.rand(1, 3, 32, 32) * 2 - 1
        with torch.no_grad():
            assert torch.equal(served(x), installed(x))
    assert not [p for p in download_path(mirror.file_url(S2W[0])).parent.iterdir()], "downloads left behind"


def test_a_partial_download_is_resumed_with_range(home, mirror):
    serve_s2w(mirror)
    url = mirror.file_url(S2W[0])
    part = download_path(url).with_name(download_path(url).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(mirror.files[S2W[0]][:1000])
    code, out = invoke("models", "download", "summer2winter", "--url", mirror.url)
    assert code == 0, out
    assert (S2W[0], "bytes=1000-", len(mirror.files[S2W[0]]) - 1000) in mirror.requests
    assert ModelStore().get("summer2winter").info.provenance["a2b"]["sha256"] == sha256(mirror.files[S2W[0]])
    assert not part.exists()


def test_a_server_that_ignores_range_gives_the_whole_file(home, mirror):
    serve_s2w(mirror)
    mirror.honour_range = False
    url = mirror.file_url(S2W[1])
    part = download_path(url).with_name(download_path(url).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"not what the server has" * 100)
    code, out = invoke("models", "download", "winter2summer_yosemite", "--url", mirror.url)
    assert code == 0, out
    assert (S2W[1], "bytes=2300-", len(mirror.files[S2W[1]])) in mirror.requests
    assert ModelStore().get("summer2winter").info.provenance["b2a"]["sha256"] == sha256(mirror.files[S2W[1]])


def test_a_partial_file_longer_than_the_servers_starts_over(home, mirror):
    serve_s2w(mirror)
    url = mirror.file_url(S2W[0])
    part = download_path(url).with_name(download_path(url).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(mirror.files[S2W[0]] + b"stale tail")
    code, out = invoke("models", "download", "s2w", "--url", mirror.url)
    assert code == 0, out
    asked = [(r, sent) for name, r, sent in mirror.requests if name == S2W[0]]
    assert asked == [(f"bytes={len(mirror.files[S2W[0]]) + 10}-", 0), (None, len(mirror.files[S2W[0]]))]
    assert ModelStore().get("summer2winter").info.provenance["a2b"]["sha256"] == sha256(mirror.files[S2W[0]])


def test_a_broken_off_transfer_keeps_its_part_and_the_next_run_resumes(home, mirror):
    mirror.files["style_monet.pth"] = generator_bytes(3)
    mirror.cut_after = 5000
    code, out = invoke("models", "download", "style_monet", "--url", mirror.url)
    assert_one_sentence_error(code, out, "stopped after", "run the command again to resume")
    assert stored(home) == []
    mirror.cut_after = None
    code, out = invoke("models", "download", "style_monet", "--url", mirror.url)
    assert code == 0, out
    assert mirror.requests[-1] == ("style_monet.pth", "bytes=5000-", len(mirror.files["style_monet.pth"]) - 5000)
    model = ModelStore().get("style_monet")
    assert model.info.menu_label("a2b") == "Photo to Monet"
    assert list(model.info.directions) == ["a2b"]
    assert model.info.provenance["a2b"]["sha256"] == sha256(mirror.files["style_monet.pth"])


def test_an_unreachable_host_is_one_sentence_naming_it(home):
    code, out = invoke("models", "download", "s2w", "--url", "http://127.0.0.1:1")
    assert_one_sentence_error(code, out, "Cannot reach 127.0.0.1:1", "--url")
    assert stored(home) == []


def test_a_404_names_the_url_nothing_is_half_installed_and_the_rerun_keeps_what_arrived(home, mirror):
    mirror.files[S2W[0]] = generator_bytes(1)  # the a2b file exists, the b2a one does not
    code, out = invoke("models", "download", "s2w", "--url", mirror.url)
    assert_one_sentence_error(code, out, "HTTP 404", mirror.file_url(S2W[1]))
    assert stored(home) == []
    mirror.files[S2W[1]] = generator_bytes(2)
    code, out = invoke("models", "download", "s2w", "--url", mirror.url)
    assert code == 0, out
    assert [name for name, _, _ in mirror.requests] == [S2W[0], S2W[1], S2W[1]]  # the whole a2b file was kept
    assert ModelStore().get("summer2winter").info.provenance["a2b"]["sha256"] == sha256(mirror.files[S2W[0]])


@pytest.mark.parametrize("kind", ["random bytes", "pickled code"])
def test_a_file_that_is_not_a_generator_is_refused(home, mirror, tmp_path, kind):
    serve_s2w(mirror)
    marker = tmp_path / "ran"
    if kind == "random bytes":
        mirror.files[S2W[1]] = random.Random(0).randbytes(5000)
    else:
        save_with_code(tiny_generator(2).net.state_dict(), tmp_path / "code.pth", marker)
        mirror.files[S2W[1]] = (tmp_path / "code.pth").read_bytes()
    code, out = invoke("models", "download", "s2w", "--url", mirror.url)
    assert_one_sentence_error(code, out, mirror.file_url(S2W[1]))
    assert not marker.exists()
    assert stored(home) == []
    assert not list(download_path(mirror.file_url(S2W[1])).parent.iterdir()), "a refused download was kept"


def test_an_installed_model_needs_force_to_be_replaced(home, mirror):
    serve_s2w(mirror)
    assert invoke("models", "download", "s2w", "--url", mirror.url)[0] == 0
    mirror.files[S2W[0]] = generator_bytes(7)
    code, out = invoke("models", "download", "s2w", "--url", mirror.url)
    assert_one_sentence_error(code, out, "installed already", "--force")
    assert ModelStore().get("summer2winter").info.provenance["a2b"]["sha256"] == sha256(generator_bytes(1))
    code, out = invoke("models", "download", "s2w", "--url", mirror.url, "--force")
    assert code == 0, out
    assert ModelStore().get("summer2winter").info.provenance["a2b"]["sha256"] == sha256(generator_bytes(7))
    assert sorted(p.name for p in home.iterdir()) == ["cache", "models"]  # no staging folder left


def test_the_environment_variable_names_the_mirror(home, mirror, monkeypatch):
    serve_s2w(mirror)
    monkeypatch.setenv("CYCLEGAN_FX_MODELS_URL", mirror.url + "/")
    code, out = invoke("models", "download", "s2w")
    assert code == 0, out
    assert ModelStore().get("summer2winter").info.provenance["b2a"]["url"] == mirror.file_url(S2W[1])


def test_an_unknown_name_lists_valid_ones(home):
    code, out = invoke("models", "download", "zebra2unicorn")
    assert_one_sentence_error(code, out, "'zebra2unicorn'", "summer2winter", "--list")


def test_list_shows_every_official_file(home):
    code, out = invoke("models", "download", "--list")
    assert code == 0, out
    for name in ("summer2winter", "horse2zebra", "cityscapes", "style_vangogh", "iphone2dslr_flower", "s2w"):
        assert name in out
    assert "Satellite to Map / Map to Satellite" in out
