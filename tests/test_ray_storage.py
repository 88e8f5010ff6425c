"""The parts of `cyclegan-fx batch` that need no Ray runtime: listing, storage through pyarrow filesystems,
shipping the model, the worker's own handling of one file, and what is refused before any worker starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke
from PIL import Image

from cyclegan_fx.errors import ImageReadError, OutputError
from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.io.inputs import expand_inputs
from cyclegan_fx.models import resolve_model
from cyclegan_fx.runners.translate_file import write_image
from cyclegan_fx.runtime.config import RunOptions

pytest.importorskip("pyarrow", reason="the ray extra is not installed")

from cyclegan_fx.scale.model_files import pack_model, unpack_model  # noqa: E402
from cyclegan_fx.scale.storage import local_copy, local_target, locate, walk  # noqa: E402
from cyclegan_fx.scale.work import WorkerSettings, WorkItem  # noqa: E402
from cyclegan_fx.scale.worker import Translator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path, photo) -> Path:
    root = tmp_path / "tree"
    for name in ("a.jpg", "b.PNG", "sub/c.tif", "sub/deeper/d.webp", "other/e.bmp"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo[:32, :32]).save(root / name)
    (root / ".a.jpg.1234.part").write_bytes(b"a temporary file of an atomic write")
    (root / "sub" / "readme.txt").write_text("no image")
    (root / "link").symlink_to(root, target_is_directory=True)  # a cycle, never followed
    return root


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
@pytest.mark.parametrize("recursive", [False, True])
def test_walk_finds_what_apply_finds(tree, uri, recursive):
    folder = locate(tree.as_uri() if uri else str(tree))
    problems = []
    found = walk(folder, recursive, lambda path, reason: problems.append(reason))
    assert not isinstance(found, list)  # a generator: the listing is consumed as work is handed out
    files, _ = expand_inputs([str(tree)], recursive)
    assert sorted(found) == sorted(f.name.as_posix() for f in files)
    assert problems == []


def test_walk_skips_dangling_links_and_reports_a_vanished_folder(tree):
    problems = []
    folder = locate(str(tree))
    (tree / "sub" / "deeper").rename(tree / "gone")
    (tree / "sub" / "deeper").symlink_to(tree / "nowhere", target_is_directory=True)  # dangling: skipped
    names = list(walk(folder, True, lambda path, reason: problems.append((path, reason))))
    assert "a.jpg" in names and "gone/d.webp" in names and problems == []
    listed = walk(locate(str(tree / "missing")), True, lambda path, reason: problems.append((path, reason)))
    assert list(listed) == []
    assert problems == [(str(tree / "missing"), f"Cannot list {tree / 'missing'}: no such file or folder.")]


def test_uri_round_trip_writes_only_complete_objects(tmp_path, photo):
    folder = locate((tmp_path / "store").as_uri())
    target = folder.child("x/y/out.png")
    pixels = (photo[:40, :48].astype(np.uint16) * 257) ^ 0x33
    from cyclegan_fx.io.image_format import ImageMeta

    refused = re.escape(f"Cannot write {target.text}: pixels must be")  # the object's name, not the local file's
    with pytest.raises(OutputError, match="^" + refused), local_target(target) as local:
        write_image(local, np.dstack([pixels, pixels[:, :, :2]]), None, overwrite=False)  # five channels: refused
    assert not target.exists() and not (tmp_path / "store").exists()  # nothing uploaded, not even a part
    with local_target(target) as local:
        write_image(local, pixels, ImageMeta("PNG", b"icc-bytes-are-opaque", None), overwrite=False)
    assert sorted(p.name for p in (tmp_path / "store" / "x" / "y").iterdir()) == ["out.png"]
    assert target.exists()
    with local_copy(target) as local:
        loaded = load_image(local)
    assert np.array_equal(loaded.pixels, pixels) and loaded.meta.icc_profile == b"icc-bytes-are-opaque"


def test_reader_errors_name_the_object_not_the_local_copy(tmp_path):
    (tmp_path / "bad.png").write_text("text")
    source = locate((tmp_path / "bad.png").as_uri())
    with pytest.raises(ImageReadError) as caught, local_copy(source) as local:
        load_image(local)
    assert str(caught.value) == f"Cannot read {source.text}: not an image file (supported: JPEG, PNG, TIFF, WebP, BMP)."
    with pytest.raises(ImageReadError, match="no such file"), local_copy(locate((tmp_path / "gone.png").as_uri())):
        pass


@pytest.mark.parametrize("kind", ["bundle", "checkpoint"])
def test_model_files_unpack_once_and_resolve_to_the_same_model(kind, vintage_path):
    model = resolve_model("vintage" if kind == "bundle" else str(vintage_path))
    files = pack_model(model, "a2b")
    first = unpack_model(files)
    assert unpack_model(files) == first
    again = resolve_model(first)
    assert (again.name, list(again.info.directions)) == (model.name, list(model.info.directions))
    assert again.info.work_size == model.info.work_size
    assert again.generator("a2b").spec() == model.generator("a2b").spec()


@pytest.fixture(scope="module")
def translator(tmp_path_factory, photo):
    """The worker's code run in this process, as one Ray actor runs it."""
    root = tmp_path_factory.mktemp("worker")
    (root / "in").mkdir()
    Image.fromarray(photo[:48, :64]).save(root / "in" / "a.png")
    settings = WorkerSettings((locate(str(root / "in")), locate((root / "in").as_uri())), locate(str(root / "out")),
                              "a2b", "cpu", "fp32", "torch", RunOptions(work_size=64), 1)
    files = pack_model(resolve_model("vintage"), "a2b")
    return Translator(settings, lambda: files), root


@pytest.mark.parametrize("folder", [0, 1], ids=["path", "file-uri"])
def test_a_vanished_input_is_a_failure_and_the_worker_goes_on(translator, folder):
    worker, root = translator
    outcome = worker.translate(WorkItem(folder, "vanished.png"))
    assert outcome.status == "failed"
    assert outcome.reason.startswith("Cannot read ") and outcome.reason.endswith("vanished.png: no such file.")
    assert worker.translate(WorkItem(folder, "a.png")).status in ("written", "skipped")


def test_an_existing_output_is_skipped_untouched(translator):
    worker, root = translator
    (root / "out").mkdir(exist_ok=True)
    (root / "out" / "a.png").write_bytes(b"done by an earlier run")
    outcome = worker.translate(WorkItem(0, "a.png"))
    assert outcome.status == "skipped"
    assert (root / "out" / "a.png").read_bytes() == b"done by an earlier run"


def test_refusals_come_before_any_worker_starts(tmp_path, photo):
    source = tmp_path / "in"
    (source / "x").mkdir(parents=True)
    Image.fromarray(photo[:32, :32]).save(source / "a.png")
    Image.fromarray(photo[:32, :32]).save(source / "x" / "a.png")
    cases = {
        ("batch", source, "-o", source / "out", "--recursive"): f"The destination {source / 'out'} lies in the source",
        ("batch", source, "-o", source): f"The destination {source} lies in the source",
        ("batch", source / "a.png", source / "x" / "a.png", "-o", tmp_path / "o"): "would be written to the same output",
        ("batch", tmp_path / "nothing", tmp_path / "nor", "-o", tmp_path / "o"):
            f"No such file or folder: {tmp_path / 'nothing'}, {tmp_path / 'nor'}.",
        ("batch", "nosuch://bucket/in", "-o", tmp_path / "o"): "Cannot open nosuch://bucket/in: ",
        ("batch", source, "-o", source / "a.png"): "is a file; the destination must be a folder.",
    }
    for args, message in cases.items():
        code, out = invoke(*args, "--failures", tmp_path / "f.jsonl")
        assert code == 1 and message in out and "Traceback" not in out, (args, out)
    assert not (tmp_path / "o").exists()


def test_help_never_imports_ray_or_pyarrow():
    code = ("import sys; from click.testing import CliRunner; from cyclegan_fx.cli import cli; "
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
            "assert CliRunner().invoke(cli, ['batch', '--help']).exit_code == 0; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow'))))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", "import json; " + code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == []


OUT_OF_MEMORY = """
import json, resource, sys
from cyclegan_fx.models import resolve_model
from cyclegan_fx.runners.translate_file import write_image
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.scale.model_files import pack_model
from cyclegan_fx.scale.storage import locate
from cyclegan_fx.scale.work import WorkerSettings, WorkItem
from cyclegan_fx.scale.worker import Translator

root = sys.argv[1]
settings = WorkerSettings((locate(root),), locate(root + "/out"), "a2b", "cpu", "fp32", "torch",
                          RunOptions(work_size="full"), 1)
files = pack_model(resolve_model("vintage"), "a2b")
worker = Translator(settings, lambda: files)
in_use = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (in_use + (150 << 20), resource.RLIM_INFINITY))  # 150 MiB more, no swap
print(json.dumps([vars(worker.translate(WorkItem(0, name))) for name in ("big.png", "small.png")]))
"""


def test_an_image_too_big_for_memory_fails_alone(tmp_path, photo):
    """A real allocation failure inside the worker (an address-space limit), not a simulated one."""
    Image.fromarray(np.full((3000, 4000, 3), 90, np.uint8)).save(tmp_path / "big.png")
    Image.fromarray(photo[:64, :64]).save(tmp_path / "small.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY, str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    big, small = json.loads(run.stdout.splitlines()[-1])
    assert big["status"] == "failed" and "out of memory" in big["reason"].lower(), big
    assert small["status"] == "written"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]


def test_a_work_folder_on_a_store_publishes_whole_chunks_and_resumes(tmp_path):
    """What `video --ray` keeps on an object store (here file://): a worker's chunk appears file by file, each
    under its final name only once complete and its record last; a driver elsewhere lists and downloads it."""
    from cyclegan_fx.errors import ConfigError
    from cyclegan_fx.scale.video_store import StoredWork, chunk_folder
    from cyclegan_fx.video.chunks import KIND
    from cyclegan_fx.video.work import ChunkRecord

    location = locate((tmp_path / "store" / ".out.mkv.cyclegan-fx-work").as_uri())
    job = {"input": "s3://bucket/clip.mkv", "crf": 18}
    driver = StoredWork(location, tmp_path / "driver").start(job, resume=False)
    assert driver.done(KIND) == set() and not driver.is_done(KIND, 0)
    record = ChunkRecord(frames=3, damage=0, last_key=2, first_index=0, first_pts=0, last_duration=1, extradata="")
    thumb = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    with chunk_folder(location) as worker:
        worker.file(KIND, 1, ".packets").write_bytes(b"encoded chunk")
        worker.finish(KIND, 1, record, {"thumb": thumb})
    stored = sorted(p.name for p in (tmp_path / "store" / ".out.mkv.cyclegan-fx-work").iterdir())
    assert stored == ["job.json", "video-00001.json", "video-00001.npz", "video-00001.packets"]  # no .part left
    assert driver.done(KIND) == {1} and driver.is_done(KIND, 1)
    assert driver.finished(KIND) == []  # in order, up to the first missing one: chunk 0

    with chunk_folder(location) as worker:
        worker.file(KIND, 0, ".packets").write_bytes(b"first chunk")
        worker.finish(KIND, 0, record, {"thumb": thumb})
    again = StoredWork(location, tmp_path / "resumed").start(job, resume=True)
    assert again.finished(KIND) == [record, record]
    assert again.file(KIND, 1, ".packets").read_bytes() == b"encoded chunk"  # downloaded for the join
    assert np.array_equal(again.arrays(KIND, 0)["thumb"], thumb)
    refused = f"^The unfinished work in {re.escape(location.text)} belongs to another job"
    with pytest.raises(ConfigError, match=refused):
        StoredWork(location, tmp_path / "other").start({**job, "crf": 20}, resume=True)
    again.remove()
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == []
