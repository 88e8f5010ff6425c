"""`cyclegan-fx video --ray` with the clip, the output and the work folder as object-store URIs, through the
pyarrow filesystem layer that `batch` uses, on a real local Ray runtime with two CPU actors: file:// URIs, and
s3:// URIs served by a local S3 server (moto's, where it is installed: an object store without folders or
renames, reached over HTTP). The output equals the local-path run's, and a job stopped after some chunks
resumes from the chunks kept on the store."""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import helpers
import numpy as np
import pytest
from clips import Clip, pan, read_clip, write_clip

pytestmark = pytest.mark.heavy  # a real Ray runtime: the quick tier deselects it (-m "not heavy")

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pafs = pytest.importorskip("pyarrow.fs", reason="the ray extra is not installed")

FAST = ["--device", "cpu", "--backend", "torch", "--work-size", "64", "--codec", "ffv1", "--chunk", "8"]
RAY = ["--ray", "--actors", "2", "--threads", "1"]
BUCKET = "media"


@pytest.fixture(scope="module")
def s3_server():
    """A local S3 server; its address and test credentials are set in the environment, for this process and
    the Ray workers it starts. None where moto's server is not installed."""
    found = Path(sys.executable).with_name("moto_server")
    command = [str(found)] if found.exists() else [shutil.which("moto_server") or ""]
    if not command[0]:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([*command, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                                "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
                patch.setenv(name, value)
            wait_for(port, server)
            # From a URI, as the job makes its filesystems: that way pyarrow takes the address from the environment.
            fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")
            fs.create_dir(BUCKET)
            yield fs
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "the S3 server did not start"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def ray_runtime(s3_server):
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """40 frames (a cut at frame 20) with sound and subtitles."""
    folder = tmp_path_factory.mktemp("clip")
    return write_clip(folder / "harbour.mkv", Clip(pan("coffee", 20) + pan("chelsea", 20, step=(2, 1)),
                                                   subtitles=True))


@pytest.fixture(scope="module")
def local_run(ray_runtime, clip) -> Path:
    """What `video --ray` makes of the clip with local paths (--temporal shot: its first pass's statistics,
    too, go through the store to the driver and back to the actors)."""
    output = clip.with_name("local.mkv")
    code, text = helpers.invoke("video", clip, "-o", output, "--temporal", "shot", *FAST, *RAY)
    assert code == 0, text
    return output


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_same_video(result: Path, reference: Path) -> None:
    got, want = read_clip(result), read_clip(reference)
    assert len(got.frames) == len(want.frames) == 40
    assert got.pts == want.pts and got.durations == want.durations and got.time_base == want.time_base
    assert got.audio == want.audio and got.subtitles == want.subtitles and got.audio and got.subtitles
    assert all(np.array_equal(a, b) for a, b in zip(got.frames, want.frames))


class FileStore:
    """A local folder reached through file:// URIs only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()

    def uri(self, name: str) -> str:
        return (self.folder / name).as_uri()

    def put(self, name: str, data: bytes) -> None:
        (self.folder / name).write_bytes(data)

    def get(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def names(self) -> list[str]:
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())


class S3Store:
    """A prefix of the local S3 server's bucket."""

    def __init__(self, fs, prefix: str) -> None:
        self.fs, self.prefix = fs, f"{BUCKET}/{prefix}"

    def uri(self, name: str) -> str:
        return f"s3://{self.prefix}/{name}"

    def put(self, name: str, data: bytes) -> None:
        with self.fs.open_output_stream(f"{self.prefix}/{name}") as stream:
            stream.write(data)

    def get(self, name: str) -> bytes:
        with self.fs.open_input_stream(f"{self.prefix}/{name}") as stream:
            return stream.read()

    def names(self) -> list[str]:
        infos = self.fs.get_file_info(pafs.FileSelector(self.prefix, recursive=True, allow_not_found=True))
        return sorted(i.path[len(self.prefix) + 1:] for i in infos if i.type == pafs.FileType.File)


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path, s3_server):
    if request.param == "file":
        return FileStore(tmp_path / "store")
    if s3_server is None:
        pytest.skip("moto's S3 server is not installed")
    return S3Store(s3_server, request.node.name.replace("[", "-").rstrip("]"))


def test_clip_and_output_as_uris_give_the_local_paths_output(local_run, clip, store, tmp_path):
    store.put("harbour.mkv", clip.read_bytes())
    code, text = helpers.invoke("video", store.uri("harbour.mkv"), "-o", store.uri("out/ray.mkv"), "--temporal",
                                "shot", *FAST, *RAY)
    assert code == 0, text
    assert "Translating 5 of 5 chunk(s)" in text and f"Wrote 40 frames to {store.uri('out/ray.mkv')}." in text
    (tmp_path / "ray.mkv").write_bytes(store.get("out/ray.mkv"))
    assert_same_video(tmp_path / "ray.mkv", local_run)
    assert store.names() == ["harbour.mkv", "out/ray.mkv"]  # no work folder, no temporary object
    assert digest(store.get("harbour.mkv")) == digest(clip.read_bytes())


def test_a_job_stopped_after_some_chunks_resumes_from_the_store(ray_runtime, clip, store, tmp_path):
    from cyclegan_fx.errors import CycleganFxError
    from cyclegan_fx.runtime.config import RunOptions
    from cyclegan_fx.scale.video_job import RayPlacement, translate_video_on_ray
    from cyclegan_fx.video import EncodeSettings, Temporal, TemporalSettings, VideoOptions

    code, text = helpers.invoke("video", clip, "-o", tmp_path / "single.mkv", "--temporal", "off", *FAST)
    assert code == 0, text
    store.put("harbour.mkv", clip.read_bytes())
    target = tmp_path / "ray.mkv"  # a local output; the work folder on the store (--work)
    work = "work/.ray.mkv.cyclegan-fx-work/"

    def run(resume: bool, progress) -> object:
        options = VideoOptions(TemporalSettings(Temporal.OFF), EncodeSettings("ffv1"), chunk_frames=8, resume=resume)
        return translate_video_on_ray(store.uri("harbour.mkv"), "vintage", "a2b", "cpu", "auto", "torch",
                                      RunOptions(work_size=64), options, RayPlacement(actors=2, threads=1), target,
                                      progress, store.uri("work"))

    def stop_after_two_chunks(done: int, total: int | None) -> None:
        if done >= 16:
            raise CycleganFxError("Stopped by the test.")

    with pytest.raises(CycleganFxError, match="Stopped by the test"):
        run(False, stop_after_two_chunks)
    assert not target.exists()
    kept = [name[len(work):] for name in store.names() if name.startswith(work)]
    records = [name[:-len(".json")] for name in kept if name.startswith("video-") and name.endswith(".json")]
    assert 2 <= len(records) < 5
    for stem in records:  # a chunk with a record is complete
        assert f"{stem}.npz" in kept and len(store.get(f"{work}{stem}.packets")) > 0

    seen: list[int] = []
    report = run(True, lambda done, total: seen.append(done))
    assert report.frames == 40 and report.output == target
    assert seen[0] == 8 * len(records)  # the finished chunks counted at once, never translated again
    assert len(seen) == 1 + 5 - len(records)  # then one report per chunk translated
    assert_same_video(target, tmp_path / "single.mkv")
    assert store.names() == ["harbour.mkv"]  # the work folder removed
