"""Who holds a claim: a daemon process named by host, machine, pid and start time, and whether it still runs."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

_FIELDS = 4


@dataclass(frozen=True)
class Owner:
    host: str  # the host name, letters, digits and '-' only
    machine: str  # this boot of this kernel and its process namespace: pids mean the same only within it
    pid: int
    start: str  # the process's start time ("s..."), or a random token where /proc cannot tell ("r...")

    @property
    def id(self) -> str:
        return f"{self.host}_{self.machine}_{self.pid}_{self.start}"

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:48] or "host"
        return cls(host, _machine(), pid, _start_time(pid) or "r" + secrets.token_hex(6))

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner named at the start of ``text`` (an owner id, or a claim id that begins with one)."""
        parts = text.split(".")[0].split("_")  # no field holds a dot; a file name's suffixes follow one
        if len(parts) < _FIELDS or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]), parts[3])

    def shares_pids_with(self, other: Owner) -> bool:
        """Whether ``other`` runs where this process can look its pid up."""
        return (self.host, self.machine) == (other.host, other.machine)


def process_alive(owner: Owner) -> bool:
    """Whether ``owner``'s process still runs; only meaningful where ``shares_pids_with`` holds."""
    if owner.start.startswith("s"):
        seen = _proc_stat(owner.pid)
        if seen is not None:
            state, start = seen
            return start == owner.start and state not in ("Z", "X")  # a zombie has exited
    try:
        os.kill(owner.pid, 0)  # /proc cannot tell (none here, or another user's process hidden from us)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    seen = _proc_stat(pid)
    return seen[1] if seen is not None else None


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """The state and start time ("s" and the clock ticks after boot, field 22) of /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], "s" + fields[19]


def _machine() -> str:
    """A short digest of the boot id and the pid namespace (containers on one host differ)."""
    parts = []
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(source) if source.endswith("/pid") else Path(source).read_text().strip())
        except OSError:
            parts.append(socket.gethostname())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]
