"""A real GIMP 3 for tests: a Debian 13 (trixie) chroot, built once into a cache folder and reused.

Debian 12 has no GIMP 3; trixie has GIMP 3.0.4 with Python plug-in support. Building needs root and
the Debian package registry; ``unavailable_reason`` says in one sentence why it cannot be had.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

SUITE = "trixie"
PACKAGES = ["gimp", "gir1.2-gimp-3.0", "python3-gi", "gir1.2-gegl-0.4", "gir1.2-babl-0.1", "python3",
            "xvfb", "xdotool", "x11-apps", "imagemagick"]  # the last four: GIMP's window on a virtual screen
GIMP = "gimp-console-3.0"
GIMP_WINDOW = "gimp-3.0"
_READY = ".cyclegan-fx-ready"  # written last, listing the packages installed: without it, an interrupted build
_DEFAULT_MIRROR = "http://deb.debian.org/debian"


def cache_dir() -> Path:
    explicit = os.environ.get("CYCLEGAN_FX_TEST_CACHE")
    return Path(explicit).expanduser() if explicit else Path.home() / ".cache" / "cyclegan-fx-tests"


def rootfs() -> Path:
    return cache_dir() / f"gimp3-{SUITE}"


def is_ready(root: Path | None = None) -> bool:
    """Whether the chroot was built (it may still lack packages added to PACKAGES since)."""
    root = root or rootfs()
    return (root / _READY).is_file() and (root / "usr" / "bin" / GIMP).is_file()


def missing_packages(root: Path) -> list[str]:
    """The PACKAGES that the ready marker of a built chroot does not list (a cache from an older PACKAGES)."""
    installed = set((root / _READY).read_text().split())
    return [p for p in PACKAGES if p not in installed]


def unavailable_reason() -> str | None:
    """Why a real GIMP cannot be run here, or None."""
    missing = missing_packages(rootfs()) if is_ready() else PACKAGES
    if not missing:
        return None if os.geteuid() == 0 else "running GIMP in the chroot needs root (chroot and mount)"
    if os.geteuid() != 0 and is_ready():
        return f"the GIMP 3 chroot at {rootfs()} lacks {', '.join(missing)}, and installing them needs root"
    if os.geteuid() != 0:
        return f"building the GIMP 3 chroot needs root, and none is cached at {rootfs()}"
    if shutil.which("debootstrap") is None and shutil.which("apt-get") is None:
        return "building the GIMP 3 chroot needs debootstrap or apt-get to install it"
    release = f"{mirror()}/dists/{SUITE}/InRelease"
    try:
        urllib.request.urlopen(urllib.request.Request(release, method="HEAD"), timeout=20).close()
    except (OSError, ValueError) as exc:
        return f"building the GIMP 3 chroot needs the Debian registry, but {release} is unreachable ({exc})"
    return None


def mirror() -> str:
    """The Debian mirror this machine's apt sources name (the registry that is reachable here)."""
    sources = list(Path("/etc/apt").glob("sources.list.d/*.sources")) + [Path("/etc/apt/sources.list")]
    for path in sources:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                found = re.match(r"\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(https?://\S+/debian)/?(\s|$)", line)
                if found:
                    return found.group(1)
    return _DEFAULT_MIRROR


def ensure_rootfs() -> Path:
    """The chroot, built on first use and given the packages it lacks; concurrent callers wait for one build."""
    root = rootfs()
    if is_ready(root) and not missing_packages(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.with_name(root.name + ".lock")):
        if not is_ready(root):
            _build(root)
        elif missing_packages(root):
            _install(root, missing_packages(root))
    return root


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(root: Path) -> None:
    """Debootstrap into a temporary folder, install GIMP, then rename into place."""
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], "installing debootstrap")
    building = root.with_name(root.name + ".building")
    _remove(building)
    try:
        _run(["debootstrap", "--variant=minbase", SUITE, str(building), mirror()], "debootstrap")
        _install(building, PACKAGES)
        _remove(root)
        building.rename(root)
    except BaseException:
        _remove(building)
        raise


def _install(root: Path, packages: list[str]) -> None:
    """apt-get install ``packages`` (all of PACKAGES, or those a cached chroot lacks), then write the ready marker."""
    with mounted("proc", root / "proc", fstype="proc"):
        _run(["chroot", str(root), "apt-get", "update", "-q"], "updating the chroot's package lists")
        _run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
             "installing GIMP in the chroot", env={"DEBIAN_FRONTEND": "noninteractive"})
        _run(["chroot", str(root), "apt-get", "clean"], "cleaning the apt cache")
    (root / _READY).write_text("\n".join(PACKAGES) + "\n")


def _remove(folder: Path) -> None:
    """Delete a (possibly half-built) chroot, after unmounting whatever is mounted inside it."""
    for mount_point in sorted(_mounts_under(folder), key=lambda p: len(p.parts), reverse=True):
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)
    if _mounts_under(folder):  # a bind mount would let rm reach the host's files
        raise RuntimeError(f"{folder} still has mounts inside it; unmount them before it can be removed")
    if folder.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=True)


def shareable_python() -> list[Path] | None:
    """The folders this Python and its environment live in, or None when bind-mounting them into the
    chroot would hide its own system (a Python installed under /usr)."""
    folders = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()]
    if any(f == Path("/") or (f.is_relative_to("/usr") and not f.is_relative_to("/usr/local")) for f in folders):
        return None
    return folders


def process_running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie waiting for its parent counts as ended)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text(errors="replace")
    except OSError:
        return False


def _outermost(folders: list[Path]) -> list[Path]:
    """The folders that are not inside another of them, parents first."""
    resolved = sorted({f.resolve() for f in folders})
    return [f for f in resolved if not any(o != f and f.is_relative_to(o) for o in resolved)]


def _mounts_under(folder: Path) -> list[Path]:
    inside = str(folder.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [Path(line.split()[4].replace("\\040", " ")) for line in f]
    return [p for p in points if str(p).startswith(inside)]


@contextlib.contextmanager
def mounted(source: str | Path, target: Path, fstype: str | None = None) -> Iterator[None]:
    """Mount (or bind-mount a folder) for the duration of the block; always unmounted, and the folders
    made for the mount point removed, after."""
    made = [p for p in [target, *target.parents] if not p.exists()]
    target.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", fstype, fstype, str(target)] if fstype else ["mount", "--bind", str(source), str(target)]
    subprocess.run(command, check=True, capture_output=True)
    try:
        yield
    finally:
        for _ in range(20):  # a process that just ended may still hold it for a moment
            if subprocess.run(["umount", str(target)], check=False, capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        else:
            subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)  # detach it now
        if not os.path.ismount(target):
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def run_gimp(root: Path, script: Path, shared: list[Path], env: dict[str, str], timeout: float = 300,
             before_unmount: Callable[[], None] | None = None, window: bool = False) -> subprocess.CompletedProcess:
    """Run ``script`` in GIMP inside the chroot (batch mode, python-fu-eval), with each folder of ``shared``
    bind-mounted at its own path, so paths mean the same inside and out; ``before_unmount`` runs after GIMP,
    while the folders are still there (to stop what GIMP started in them). ``window``: the full GIMP with
    its windows on a virtual screen ($DISPLAY), instead of gimp-console."""
    gimp = [GIMP_WINDOW, "-n", "-d", "-f"] if window else [GIMP, "-i", "-n", "-d", "-f"]
    with _locked(root.with_name(root.name + ".lock")), contextlib.ExitStack() as stack:
        stack.enter_context(mounted("proc", root / "proc", fstype="proc"))
        for folder in _outermost(shared):
            stack.enter_context(mounted(folder, root / folder.resolve().relative_to("/")))
        if window:
            env = {**env, "DISPLAY": stack.enter_context(_virtual_screen(root))}
        command = ["chroot", str(root), "env", "HOME=/root", "LANG=C.UTF-8", *[f"{k}={v}" for k, v in env.items()],
                   *gimp, "--batch-interpreter=python-fu-eval", "-b", f"exec(open({str(script)!r}).read())", "--quit"]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        finally:
            if before_unmount is not None:
                before_unmount()


@contextlib.contextmanager
def _virtual_screen(root: Path, number: int = 42, timeout: float = 60) -> Iterator[str]:
    """Xvfb in the chroot for the block; yields its DISPLAY once it accepts connections."""
    socket = root / "tmp" / ".X11-unix" / f"X{number}"
    with contextlib.suppress(FileNotFoundError):
        socket.unlink()  # left by a server that was killed
    server = subprocess.Popen(["chroot", str(root), "Xvfb", f":{number}", "-screen", "0", "1280x900x24",
                               "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not socket.is_socket():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb did not start in the GIMP chroot (exit {server.poll()})")
            time.sleep(0.1)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(30)


def _run(command: list[str], what: str, env: dict | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))
