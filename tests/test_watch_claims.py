"""The watch daemon's parts in process, on real files: claims and every crash point between their steps,
owners and heartbeats, names, settling, configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pytest
from watch_helpers import files_in, photo_bytes

from cyclegan_fx.errors import ConfigError
from cyclegan_fx.io.atomic import temporary_sibling
from cyclegan_fx.runtime.config import StatsMode
from cyclegan_fx.watch.claims import Claims
from cyclegan_fx.watch.config import FolderConfig, load_config
from cyclegan_fx.watch.files import write_record
from cyclegan_fx.watch.names import InputRules, numbered
from cyclegan_fx.watch.owner import Owner, process_alive
from cyclegan_fx.watch.settle import SettleTracker
from cyclegan_fx.watch.status import Heartbeats

DAEMON_A = Owner("hostA", "m1", 101, "s1")
DAEMON_B = Owner("hostB", "m2", 202, "s2")


def only(*owners: Owner):
    """A liveness test under which just ``owners`` run."""
    return lambda owner: owner in owners


@pytest.fixture
def folder(tmp_path: Path) -> FolderConfig:
    config = FolderConfig(inbox=tmp_path / "in")
    for path in (config.inbox, config.work_dir / "processing"):
        path.mkdir(parents=True)
    return config


def arrive(config: FolderConfig, name: str, index: int = 0) -> Path:
    path = config.inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo_bytes(index))
    return path


def complete(claims: Claims, claim) -> Path:
    """What the pipeline does with a claim: write the output unless it is there, then finish."""
    if not claims.output_written(claim):
        claims.output_path(claim).write_bytes(b"translated " + claim.token.encode())
    return claims.finish(claim)


def leftovers(config: FolderConfig) -> list[Path]:
    """Anything the claims should not leave: records, held files, locks and temporaries."""
    folders = (config.outbox, config.done_dir, config.failed_dir)
    hidden = [p for folder in folders for p in files_in(folder) if p.name.startswith(".")]
    return hidden + files_in(config.work_dir / "processing")


def test_a_claimed_file_ends_in_done_with_one_output(folder):
    source = arrive(folder, "x.jpg")
    original = source.read_bytes()
    claims = Claims(folder, DAEMON_A)
    claim = claims.take(source)
    assert not source.exists() and claims.held_path(claim).read_bytes() == original
    assert claim.output == PurePosixPath("x.jpg") and claim.number == 0
    where = complete(claims, claim)
    assert where == folder.done_dir / "x.jpg" and where.read_bytes() == original
    assert files_in(folder.outbox) == [Path("x.jpg")]
    assert leftovers(folder) == []


def test_of_two_daemons_only_one_takes_a_file(folder):
    source = arrive(folder, "x.jpg")
    first, second = Claims(folder, DAEMON_A), Claims(folder, DAEMON_B)
    claim = first.take(source)
    assert claim is not None
    assert second.take(source) is None
    assert [p.name for p in files_in(folder.work_dir / "processing")] == sorted([f"{claim.id}.json", claim.held])


def test_same_names_arriving_at_different_times_get_numbers(folder):
    claims = Claims(folder, DAEMON_A)
    first = claims.take(arrive(folder, "sub/x.jpg", 0))
    second = claims.take(arrive(folder, "sub/x.jpg", 1))  # while the first is still being worked on
    complete(claims, second)
    complete(claims, first)
    third = claims.take(arrive(folder, "sub/x.jpg", 2))  # after both are done
    complete(claims, third)
    names = ["sub/x.jpg", "sub/x-1.jpg", "sub/x-2.jpg"]
    assert [str(c.output) for c in (first, second, third)] == names
    done = {str(p): (folder.done_dir / p).read_bytes() for p in files_in(folder.done_dir)}
    assert done == {name: photo_bytes(i) for i, name in enumerate(names)}
    assert leftovers(folder) == []


def test_the_output_format_sets_the_suffix_and_existing_outputs_are_never_replaced(tmp_path):
    config = FolderConfig(inbox=tmp_path / "in", format="png")
    (config.work_dir / "processing").mkdir(parents=True)
    config.outbox.mkdir()
    (config.outbox / "x.png").write_bytes(b"someone else's")
    claims = Claims(config, DAEMON_A)
    claim = claims.take(arrive(config, "x.jpg"))
    assert (claim.output, claim.done) == (PurePosixPath("x-1.png"), PurePosixPath("x-1.jpg"))
    assert (config.outbox / "x.png").read_bytes() == b"someone else's"


def _after_record(claims, config, claim):  # killed after writing the record, before the rename
    os.rename(claims.held_path(claim), config.inbox / claim.source)
    claims.lock_path(claim).unlink()


def _after_rename(claims, config, claim):  # killed before the lock was created
    claims.lock_path(claim).unlink()


def _after_empty_lock(claims, config, claim):  # killed between creating the lock and writing the token
    claims.lock_path(claim).write_text("")


def _after_claim(claims, config, claim):
    pass


def _during_output(claims, config, claim):  # killed while the output was written
    temporary_sibling(claims.output_path(claim)).write_bytes(b"half an ima")


def _after_output(claims, config, claim):
    claims.output_path(claim).write_bytes(b"translated")


def _during_move(claims, config, claim):  # the hard link to done/ is made, the old name not yet removed
    _after_output(claims, config, claim)
    (config.done_dir / claim.done).parent.mkdir(parents=True, exist_ok=True)
    os.link(claims.held_path(claim), config.done_dir / claim.done)


def _after_move(claims, config, claim):  # the lock and record are still there
    _after_output(claims, config, claim)
    (config.done_dir / claim.done).parent.mkdir(parents=True, exist_ok=True)
    os.rename(claims.held_path(claim), config.done_dir / claim.done)


CRASH_POINTS = [_after_record, _after_rename, _after_empty_lock, _after_claim, _during_output, _after_output,
                _during_move, _after_move]


@pytest.mark.parametrize("crash", CRASH_POINTS, ids=lambda f: f.__name__.strip("_"))
def test_a_claim_whose_daemon_died_is_finished_exactly_once(folder, crash):
    original = photo_bytes(3)
    arrive(folder, "a/x.jpg", 3)
    dead = Claims(folder, DAEMON_A)
    claim = dead.take(folder.inbox / "a/x.jpg")
    crash(dead, folder, claim)

    survivor = Claims(folder, DAEMON_B)
    assert survivor.abandoned(set(), only(DAEMON_A, DAEMON_B)) == []  # its owner runs: left alone
    resumed = survivor.abandoned(set(), only(DAEMON_B))
    for again in resumed:
        complete(survivor, again)
    if (folder.inbox / "a/x.jpg").exists():  # it had not left the inbox: it is simply taken again
        complete(survivor, survivor.take(folder.inbox / "a/x.jpg"))

    assert files_in(folder.outbox) == [Path("a/x.jpg")]
    assert files_in(folder.done_dir) == [Path("a/x.jpg")] and (folder.done_dir / "a/x.jpg").read_bytes() == original
    assert leftovers(folder) == []
    if crash in (_after_output, _during_move, _after_move):
        assert (folder.outbox / "a/x.jpg").read_bytes() == b"translated"  # recognised, not written again


def test_bad_files_go_to_failed_with_their_reasons_and_numbers(folder):
    claims = Claims(folder, DAEMON_A)
    first = claims.fail(claims.take(arrive(folder, "x.jpg", 0)), "Cannot read x.jpg: the file is empty.")
    second = claims.fail(claims.take(arrive(folder, "x.jpg", 1)), "Another reason.")
    assert (first, second) == (folder.failed_dir / "x.jpg", folder.failed_dir / "x-1.jpg")
    assert (folder.failed_dir / "x.jpg.error.txt").read_text() == "Cannot read x.jpg: the file is empty.\n"
    assert (folder.failed_dir / "x-1.jpg.error.txt").read_text() == "Another reason.\n"
    assert second.read_bytes() == photo_bytes(1)
    assert leftovers(folder) == []


def test_a_file_known_to_be_bad_when_its_daemon_died_is_failed_by_the_next(folder):
    dead = Claims(folder, DAEMON_A)
    claim = dead.take(arrive(folder, "x.jpg"))
    claim = replace(claim, failed=PurePosixPath("x.jpg"), reason="Cannot read x.jpg: the image data is truncated.")
    write_record(dead.record_path(claim), claim.to_json())  # died after recording why, before the move
    survivor = Claims(folder, DAEMON_B)
    [resumed] = survivor.abandoned(set(), only(DAEMON_B))
    assert resumed.reason == claim.reason
    survivor.fail(resumed, resumed.reason)
    assert (folder.failed_dir / "x.jpg.error.txt").read_text() == claim.reason + "\n"
    assert (folder.failed_dir / "x.jpg").read_bytes() == photo_bytes(0)
    assert files_in(folder.outbox) == [] and leftovers(folder) == []


def test_put_back_returns_the_original_untouched(folder):
    source = arrive(folder, "x.jpg")
    claims = Claims(folder, DAEMON_A)
    claim = claims.take(source)
    assert claims.put_back(claim)
    assert source.read_bytes() == photo_bytes(0) and leftovers(folder) == []


# --- owners and heartbeats ---------------------------------------------------------------------------


def test_owner_ids_round_trip_and_name_claims_and_temporaries():
    me = Owner.current()
    assert Owner.parse(me.id) == me
    assert Owner.parse(f"{me.id}_17") == me
    assert Owner.parse(f"{me.id}.json.0a1b2c3d.part") == me
    assert Owner.parse("notes") is None


def test_a_process_is_alive_until_it_exits():
    assert process_alive(Owner.current())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner = Owner.current()
    child_owner = Owner(owner.host, owner.machine, child.pid, _start_of(child.pid))
    assert process_alive(child_owner)
    child.kill()
    child.wait()
    assert not process_alive(child_owner)
    assert not process_alive(Owner(owner.host, owner.machine, os.getpid(), "s1"))  # same pid, another start


def _start_of(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return "s" + stat[stat.rindex(")") + 2 :].split()[19]


def test_a_daemon_on_another_machine_is_gone_once_its_status_file_is_stale(tmp_path):
    me = Owner.current()
    beats = Heartbeats(tmp_path, me, stale_after=60)
    beats.folder.mkdir()
    beats.beat({"state": "watching"})
    other = Owner("elsewhere", "m9", 4242, "s5")
    assert not beats.alive(other)  # no status file at all
    beats.path(other).write_text("{}")
    assert beats.alive(other)
    old = time.time() - 600
    os.utime(beats.path(other), (old, old))
    assert not beats.alive(other)
    beats.sweep()
    assert [p.name for p in beats.folder.iterdir()] == [f"{me.id}.json"]


# --- names, settling, configuration --------------------------------------------------------------------


@pytest.mark.parametrize("name,taken", [
    ("x.jpg", True), ("X.JPEG", True), ("sub/x.png", True), ("x.tif", True), ("x.webp", True),
    (".x.jpg", False), (".x.jpg.Ab12Cd", False), ("x.jpg.part", False), ("x.jpg.tmp", False), ("x.tmp", False),
    ("x.jpg.crdownload", False), ("x.jpg~", False), ("notes.txt", False), ("x.gif", False), (".hidden/x.jpg", False),
])
def test_temporary_and_non_image_names_are_ignored(name, taken):
    assert InputRules().accepts(PurePosixPath(name)) is taken


def test_include_and_exclude_globs():
    rules = InputRules(include=("*.jpg",), exclude=("raw/*", "skip*"))
    assert rules.accepts(PurePosixPath("a/b.JPG"))
    assert not rules.accepts(PurePosixPath("b.png"))
    assert not rules.accepts(PurePosixPath("raw/b.jpg"))
    assert not rules.accepts(PurePosixPath("skip-me.jpg"))


def test_numbered_names():
    assert numbered(PurePosixPath("a/x.jpg"), 0) == PurePosixPath("a/x.jpg")
    assert numbered(PurePosixPath("a/x.jpg"), 2, ".png") == PurePosixPath("a/x-2.png")


def test_a_file_is_ready_only_once_it_stops_changing(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"1")
    tracker = SettleTracker(settle=0.3, trust_ctime=False)
    tracker.add(path)
    start = time.monotonic()
    for _ in range(4):  # keeps growing: never ready
        tracker.update(time.monotonic())
        assert tracker.next_ready(time.monotonic()) is None
        with path.open("ab") as f:
            f.write(b"more")
        time.sleep(0.2)
    deadline = start + 10
    while (ready := tracker.next_ready(time.monotonic())) is None and time.monotonic() < deadline:
        tracker.update(time.monotonic())
        time.sleep(0.05)
    assert ready == path and len(tracker) == 0


def test_an_old_file_is_ready_at_once_and_an_empty_one_waits_longer(tmp_path):
    old, empty = tmp_path / "old.jpg", tmp_path / "empty.jpg"
    old.write_bytes(b"data")
    empty.write_bytes(b"")
    time.sleep(0.35)
    tracker = SettleTracker(settle=0.3, trust_ctime=True)
    tracker.add(old)
    tracker.add(empty)
    tracker.update(time.monotonic())
    assert tracker.next_ready(time.monotonic()) == old  # its inode has not changed for longer than settle
    tracker.update(time.monotonic() + 0.4)
    assert tracker.next_ready(time.monotonic()) is None  # empty: five settle periods
    tracker.update(time.monotonic() + 1.6)
    assert tracker.next_ready(time.monotonic()) == empty


def test_a_config_file_layers_defaults_file_values_and_flags(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "watch.toml"
    path.write_text(
        'model = "shared"\nsettle = 5\nwork-size = 256\npoll = 3\n'
        '[[folder]]\ninbox = "a"\nformat = "png"\n'
        '[[folder]]\ninbox = "/abs/b"\nmodel = "own"\ndirection = "b2a"\nstats = "thumbnail"\ninclude = ["*.jpg"]\n'
        '[[folder]]\ninbox = "c"\nmodel = "../models/g.safetensors"\n'
    )
    defaults = {"model": "vintage", "settle": 2.0, "strength": 1.0, "format": "same"}
    config = load_config(path, defaults=defaults, overrides={"strength": 0.5}, once=True)
    a, b, c = config.folders
    assert c.model.model == str(tmp_path / "conf" / ".." / "models" / "g.safetensors")  # a path: from the file
    assert a.inbox == tmp_path / "conf" / "a" and b.inbox == Path("/abs/b")
    assert (a.model.model, b.model.model, b.model.direction) == ("shared", "own", "b2a")
    assert (a.format, b.format, a.settle) == ("png", "same", 5.0)
    assert a.options.work_size == 256 and b.options.stats is StatsMode.THUMBNAIL
    assert a.options.strength == b.options.strength == 0.5
    assert b.include == ("*.jpg",) and config.poll == 3.0 and config.once
    assert a.outbox == a.inbox / "out" and a.work_dir == a.inbox / ".cyclegan-fx"


@pytest.mark.parametrize("text,message", [
    ('[[folder]]\ninbox = "a"\ncolour = "red"\n', "Unknown option 'colour'"),
    ('[[folder]]\ninbox = "a"\nsettle = "slow"\n', "invalid value 'slow'"),
    ('[[folder]]\ninbox = "a"\nformat = "gif"\n', "invalid value 'gif'"),
    ('model = "x"\n', "needs at least one [[folder]]"),
    ('[[folder]]\ninbox = "a"\n[[folder]]\ninbox = "a"\n', "same inbox is listed twice"),
    ("[[folder]\n", "not valid TOML"),
])
def test_config_mistakes_are_one_sentence(tmp_path, text, message):
    path = tmp_path / "watch.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path, defaults={}, overrides={})
