"""SIGKILL at random moments, restart, again and again: every input still ends as exactly one complete
output and its original in done/, and nothing temporary is left."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest
from watch_helpers import FAST, Daemon, decoded_size, digest, drop, files_in, photo_bytes, run_once, save_tiny_model

pytestmark = pytest.mark.heavy  # a real heavy component: the quick tier deselects it (-m "not heavy")

ROUNDS = 8
AT_START = 40
SIZE = (192, 128)


def test_sigkill_at_random_moments_never_loses_duplicates_or_half_writes(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    note = f"(random seed {seed})"
    model = save_tiny_model(tmp_path / "tiny.pth", seed=0)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources: list[bytes] = []
    for i in range(AT_START):
        data = photo_bytes(i, *SIZE, "PNG" if i % 5 == 0 else "JPEG")
        (inbox / f"photo{i:02d}.{'png' if i % 5 == 0 else 'jpg'}").write_bytes(data)
        sources.append(data)
    args = [inbox, "--settle", "0.2", "--model", model, *FAST]

    for round_ in range(ROUNDS):
        daemon = Daemon(args, tmp_path / f"log{round_}")
        try:
            for extra in range(2):  # files keep arriving, one of them always under the same name
                name = "again.jpg" if extra == 0 and not (inbox / "again.jpg").exists() else f"new{round_}-{extra}.jpg"
                data = photo_bytes(100 + 2 * round_ + extra, *SIZE)
                drop(inbox, name, data)
                sources.append(data)
            if round_ % 3 == 2:  # during start-up and the taking up of claims left by the last one
                time.sleep(rng.uniform(0.5, 4.0))
            else:  # in the stream of images: between any two steps of any file
                daemon.wait_log("-> out/", timeout=120)
                time.sleep(rng.uniform(0.0, 0.8))
        finally:
            daemon.kill()

    code, out = run_once(args, tmp_path / "final")
    assert code == 0, f"{note}\n{out}"

    done = files_in(inbox / "done")
    outputs = files_in(inbox / "out")
    assert Counter(digest((inbox / "done" / p).read_bytes()) for p in done) == Counter(map(digest, sources)), note
    assert sorted(outputs) == sorted(done), note  # one output per original, under the same name
    for name in outputs:
        assert decoded_size(inbox / "out" / name) == decoded_size(inbox / "done" / name), f"{name} {note}"
    assert files_in(inbox / "failed") == [], note
    assert files_in(inbox / ".cyclegan-fx" / "processing") == [], note
    assert [p.name for p in files_in(inbox / ".cyclegan-fx" / "status")] == [p.name for p in _status_of_last(inbox)]
    assert [p for p in files_in(inbox) if p.name.startswith(".") and p.parts[0] != ".cyclegan-fx"] == [], note
    assert [p for p in files_in(inbox) if len(p.parts) == 1] == [], note  # nothing left in the inbox itself
    assert len(sources) >= 48


def _status_of_last(inbox: Path) -> list[Path]:
    """The finishing run's own status file: every killed daemon's was removed as theirs were gone."""
    return [p.relative_to(inbox / ".cyclegan-fx" / "status") for p in (inbox / ".cyclegan-fx" / "status").iterdir()
            if '"state": "stopped"' in p.read_text()]
