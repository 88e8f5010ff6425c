"""`cyclegan-fx watch` as a real process on real folders: events and polling, slow copies, renames from
temporary names, same names at different times, SIGTERM, two daemons on one folder, model reloads,
a vanishing inbox, several folders in one process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import invoke
from watch_helpers import (
    FAST,
    Daemon,
    decoded_size,
    digest,
    drop,
    files_in,
    mean_difference,
    photo_bytes,
    run_once,
    save_tiny_model,
    wait_until,
)

from cyclegan_fx.io.image_read import load_image


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny.pth", seed=0)


@pytest.fixture
def daemons():
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.close()


def start(daemons: list[Daemon], args: list, log: Path) -> Daemon:
    daemon = Daemon(args, log)
    daemons.append(daemon)
    daemon.wait_ready()
    return daemon


def test_the_real_model_translates_files_present_at_start_copied_slowly_and_renamed_in(tmp_path, daemons):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = {f"start{i}.jpg": photo_bytes(i) for i in range(2)}
    for name, data in sources.items():
        (inbox / name).write_bytes(data)
    (inbox / "notes.txt").write_text("not an image: ignored")
    (inbox / "upload.jpg.part").write_bytes(photo_bytes(5))  # a browser's download in progress: ignored
    daemon = start(daemons, [inbox, "--settle", "1", "--work-size", "64", *FAST], tmp_path / "log")
    daemon.wait_log("-> out/", count=2)

    slow = photo_bytes(2, 160, 120)
    sources["slow.jpg"] = slow
    with (inbox / "slow.jpg").open("wb") as f:  # a copy that stalls more briefly than --settle, many times
        for start_at in range(0, len(slow), len(slow) // 6 + 1):
            f.write(slow[start_at : start_at + len(slow) // 6 + 1])
            f.flush()
            time.sleep(0.5)
    sources["renamed.jpg"] = photo_bytes(3)
    drop(inbox, "renamed.jpg", sources["renamed.jpg"])
    daemon.wait_log("-> out/", count=4)
    assert daemon.stop() == 0

    log = daemon.log()
    assert {p.name for p in files_in(inbox / "out")} == set(sources)
    for name, data in sources.items():
        assert (inbox / "done" / name).read_bytes() == data  # the whole file was taken, never a part of it
        original = load_image(inbox / "done" / name).pixels
        assert decoded_size(inbox / "out" / name) == (original.shape[1], original.shape[0])
        assert mean_difference(inbox / "out" / name, inbox / "done" / name) > 3  # really translated
        assert f"{name} {original.shape[1]}x{original.shape[0]} " in log and f"-> out/{name}" in log
    assert (inbox / "notes.txt").exists() and (inbox / "upload.jpg.part").exists()
    assert files_in(inbox / "failed") == [] and files_in(inbox / ".cyclegan-fx" / "processing") == []
    assert "Stopped after" in log and "4 done, 0 failed" in log and "Traceback" not in log
    [status_file] = (inbox / ".cyclegan-fx" / "status").iterdir()
    status = json.loads(status_file.read_text())
    assert (status["state"], status["done"], status["failed"], status["queue"]) == ("stopped", 4, 0, 0)
    assert status["images_per_minute"] > 0 and status["last_error"] is None


def test_polling_recursion_globs_formats_and_same_names_at_different_times(tmp_path, daemons, tiny):
    inbox = tmp_path / "share"
    inbox.mkdir()
    args = [inbox, "--poll", "0.3", "--settle", "0.3", "--recursive", "--include", "*.jpg", "--exclude", "skip*",
            "--format", "png", "--model", tiny, "--log-format", "json", *FAST]
    daemon = start(daemons, args, tmp_path / "log")
    drop(inbox, "a/x.jpg", photo_bytes(0))
    drop(inbox, "a/skip-me.jpg", photo_bytes(1))
    drop(inbox, "y.png", photo_bytes(2, fmt="PNG"))
    drop(inbox, "x.jpg", photo_bytes(3))
    daemon.wait_log('"event": "done"', count=2)
    drop(inbox, "x.jpg", photo_bytes(4))  # the same name again, later
    daemon.wait_log('"event": "done"', count=3)
    time.sleep(1.5)  # several polls: nothing in out/ or done/ may be taken as an input
    assert daemon.stop() == 0

    assert files_in(inbox / "out") == [Path("a/x.png"), Path("x-1.png"), Path("x.png")]
    assert (inbox / "done" / "x.jpg").read_bytes() == photo_bytes(3)
    assert (inbox / "done" / "x-1.jpg").read_bytes() == photo_bytes(4)
    assert (inbox / "done" / "a" / "x.jpg").read_bytes() == photo_bytes(0)
    assert (inbox / "a" / "skip-me.jpg").exists() and (inbox / "y.png").exists()  # excluded, not included
    assert mean_difference(inbox / "out" / "x.png", inbox / "out" / "x-1.png") > 3  # two inputs, two outputs
    lines = [json.loads(line) for line in daemon.log().splitlines()]
    done = [line for line in lines if line.get("event") == "done"]
    assert sorted(line["file"] for line in done) == ["a/x.jpg", "x.jpg", "x.jpg"]
    assert all(line["width"] == 96 and line["height"] == 64 and line["seconds"] > 0 for line in done)
    assert lines[-1]["event"] == "stop" and lines[-1]["done"] == 3


def test_sigterm_finishes_the_image_in_hand_and_puts_the_rest_back(tmp_path, daemons):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = {f"p{i:02d}.jpg": photo_bytes(i, 192, 128) for i in range(12)}
    for name, data in sources.items():
        (inbox / name).write_bytes(data)
    daemon = start(daemons, [inbox, "--settle", "0.2", "--work-size", "full", *FAST], tmp_path / "log")
    daemon.wait_log("-> out/")
    assert daemon.stop() == 0

    done = files_in(inbox / "done")
    back = [p for p in files_in(inbox) if p.parts[0] not in ("done", "out", ".cyclegan-fx")]
    assert 1 <= len(done) < len(sources) and len(done) + len(back) == len(sources)
    assert {p.name for p in files_in(inbox / "out")} == {p.name for p in done}
    for path in done:
        assert (inbox / "done" / path).read_bytes() == sources[path.name]
    for path in back:
        assert (inbox / path).read_bytes() == sources[path.name]  # put back untouched
    assert files_in(inbox / ".cyclegan-fx" / "processing") == []
    assert not [p for p in files_in(inbox / "out") if p.name.startswith(".")]
    assert "Stopped after" in daemon.log()


def test_two_daemons_on_one_folder_never_take_a_file_twice(tmp_path, daemons, tiny):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    args = [inbox, "--settle", "0.2", "--model", tiny, *FAST]
    first, second = Daemon(args, tmp_path / "log1"), Daemon(args, tmp_path / "log2")
    daemons += [first, second]
    first.wait_ready()
    second.wait_ready()
    # Photos large enough that one daemon cannot finish them all before the other wakes on a busy machine
    # (at 128x96 one once took every file while the whole suite ran).
    sources = {f"f{i:02d}.jpg": photo_bytes(i, 320, 224) for i in range(30)}
    for name, data in sources.items():
        drop(inbox, name, data)
    wait_until(lambda: len(files_in(inbox / "done")) == len(sources), 120, "all files done", first.log)
    assert first.stop() == 0 and second.stop() == 0

    taken = [[line.split()[2] for line in d.log().splitlines() if "-> out/" in line] for d in (first, second)]
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(sources)
    assert taken[0] and taken[1]  # both worked
    assert {p.name for p in files_in(inbox / "out")} == set(sources)
    assert {p.name: digest((inbox / "done" / p).read_bytes()) for p in files_in(inbox / "done")} == {
        name: digest(data) for name, data in sources.items()}
    assert files_in(inbox / ".cyclegan-fx" / "processing") == []


def test_a_replaced_model_file_is_loaded_before_the_next_image(tmp_path, daemons):
    model = save_tiny_model(tmp_path / "model.pth", seed=0)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    daemon = start(daemons, [inbox, "--settle", "0.2", "--model", model, *FAST], tmp_path / "log")
    drop(inbox, "before.jpg", photo_bytes(1))
    daemon.wait_log("-> out/before.jpg")
    save_tiny_model(model, seed=1)  # an engine or checkpoint rebuilt in place
    drop(inbox, "after.jpg", photo_bytes(1))
    daemon.wait_log("-> out/after.jpg")
    assert daemon.stop() == 0
    assert "changed on disk; loaded the new one" in daemon.log()
    assert mean_difference(inbox / "out" / "before.jpg", inbox / "out" / "after.jpg") > 3

    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "after.jpg").write_bytes(photo_bytes(1))
    code, out = run_once([reference, "--settle", "0", "--model", model, *FAST], tmp_path / "log-reference")
    assert code == 0, out
    assert mean_difference(inbox / "out" / "after.jpg", reference / "out" / "after.jpg") < 1  # the new model's


def test_a_vanishing_inbox_is_waited_for(tmp_path, daemons, tiny):
    inbox = tmp_path / "mnt" / "inbox"
    inbox.mkdir(parents=True)
    daemon = start(daemons, [inbox, "--settle", "0.2", "--model", tiny, *FAST], tmp_path / "log")
    aside = tmp_path / "unmounted"
    inbox.rename(aside)
    daemon.wait_log("is gone")
    time.sleep(0.5)
    aside.rename(inbox)
    daemon.wait_log("is back")
    drop(inbox, "late.jpg", photo_bytes(2))
    daemon.wait_log("-> out/late.jpg")
    assert daemon.stop() == 0
    assert (inbox / "done" / "late.jpg").read_bytes() == photo_bytes(2)


def test_a_config_file_watches_several_folders_sharing_one_loaded_model(tmp_path, tiny):
    for name in ("north", "south"):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / f"{name}{i}.jpg").write_bytes(photo_bytes(i))
    config = tmp_path / "watch.toml"
    config.write_text(
        f'model = "{tiny}"\nsettle = 0\ndevice = "cpu"\nprecision = "fp32"\nbackend = "torch"\n'
        '[[folder]]\ninbox = "north"\n'
        '[[folder]]\ninbox = "south"\noutput = "south-results"\nformat = "png"\nstrength = 0.5\n'
    )
    code, out = run_once(["--config", config], tmp_path / "log", verbose=True)
    assert code == 0, out
    assert out.count("Watching ") == 2
    assert out.count("Model tiny (a2b) on") == 1  # the runner's one load, logged at debug level
    assert sorted(p.name for p in files_in(tmp_path / "north" / "out")) == ["north0.jpg", "north1.jpg", "north2.jpg"]
    assert sorted(p.name for p in files_in(tmp_path / "south-results")) == ["south0.png", "south1.png", "south2.png"]
    assert len(files_in(tmp_path / "north" / "done")) == len(files_in(tmp_path / "south" / "done")) == 3
    half = mean_difference(tmp_path / "south-results" / "south0.png", tmp_path / "south" / "done" / "south0.jpg")
    full = mean_difference(tmp_path / "north" / "out" / "north0.jpg", tmp_path / "north" / "done" / "north0.jpg")
    assert 0.3 * full < half < 0.7 * full  # --strength 0.5 in one folder only


@pytest.mark.parametrize("case", ["missing", "file", "unwritable-output", "unknown-model", "cannot-run", "both"])
def test_start_up_problems_are_one_sentence_before_anything_is_watched(tmp_path, tiny, case):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    args, message = {
        "missing": ([tmp_path / "missing"], f"Inbox {tmp_path / 'missing'} does not exist."),
        "file": ([blocker], f"Inbox {blocker} is not a folder."),
        "unwritable-output": ([inbox, "-o", blocker / "out"], f"Cannot create output folder {blocker / 'out'}"),
        "unknown-model": ([inbox, "--model", "no-such-model"], "No model named 'no-such-model'"),
        "cannot-run": ([inbox, "--model", tiny, "--backend", "tensorrt", "--device", "cpu"], "needs a CUDA GPU"),
        "both": ([inbox, "--config", tmp_path / "watch.toml"], "Give either INBOX or --config"),
    }[case]
    code, out = invoke("watch", *args, "--once")
    assert code == 1 and message in out, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    status = inbox / ".cyclegan-fx" / "status"
    assert not status.exists() or not any(status.iterdir())  # never announced itself, never watched
