"""Runs inside the full GIMP 3 on a virtual screen (python-fu-eval): a user's clicks, then a JSON report.

The plug-in is reached the way a user reaches it: Filters > CycleGAN > the model's label, with keys
(xdotool) into the real windows; this script only opens the images, waits for what the clicks cause
(every wait an event with a generous timeout) and reads the layers back through GIMP's API. It takes
the screenshots of the menu and the dialog. The job file's path is in $CFX_GIMP_JOB; standard library
and gi only.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio

with open(os.environ["CFX_GIMP_JOB"]) as _job:
    JOB = json.load(_job)
sys.path.insert(0, os.path.dirname(os.environ["CFX_GIMP_JOB"]))  # gimp_batch.py lies beside the job
from gimp_batch import dump_layer

WAIT = 180.0  # seconds for anything a click causes: a busy 2-core machine is slow, never this slow
MENU_POPUP = "^GNU Image Manipulation Program$"  # GTK names a menu's popup window after the program
WINDOW_SIZE = ("1200", "850")
PROGRESS_CANCEL = (917, 832)  # the Cancel button beside the status bar's progress in a WINDOW_SIZE window of
# GIMP 3.0.4 with its default docks, read off a screenshot: the status bar offers no key for it


def xdotool(*args: str) -> str:
    done = subprocess.run(["xdotool", *args], check=False, capture_output=True, text=True, timeout=WAIT)
    if done.returncode != 0:
        raise RuntimeError(f"xdotool {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def wait_until(check, what: str):
    """The first true value of ``check()``; an error naming ``what`` after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def windows(pattern: str) -> list[str]:
    done = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", pattern], check=False, capture_output=True,
                          text=True)
    return done.stdout.split()


def focus(window: str) -> None:
    """Give ``window`` the keyboard (there is no window manager to do it on a map)."""
    xdotool("windowfocus", "--sync", window)
    wait_until(lambda: xdotool("getwindowfocus") == window, f"the keyboard focus on window {window}")


def keys(*names: str) -> None:
    xdotool("key", "--delay", "50", *names)


def plugin_running() -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"cyclegan-fx.py" in f.read():
                    return True
        except OSError:
            continue
    return False


def screenshot(path: str, box: tuple[int, int, int, int] | None = None, window: str = "root") -> None:
    crop = ["-crop", "{2}x{3}+{0}+{1}".format(*box)] if box else []
    subprocess.run(["import", "-window", window, *crop, "+repage", "-strip", "-define", "png:exclude-chunks=date,time",
                    path], check=True, timeout=WAIT)  # no dates: the same screen gives the same file


def geometry(window: str) -> tuple[int, int, int, int]:
    """x, y, width, height of a window on the screen."""
    values = dict(line.split("=") for line in xdotool("getwindowgeometry", "--shell", window).splitlines())
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


class Session:
    """The GIMP window with one image open in it."""

    def __init__(self, path: str) -> None:
        self.image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
        Gimp.Display.new(self.image)
        Gimp.displays_flush()
        size = f"{self.image.get_width()}x{self.image.get_height()} – GIMP$"
        self.window = wait_until(lambda: windows(size), "the image window")[0]
        xdotool("windowsize", "--sync", self.window, *WINDOW_SIZE)

    def open_dialog(self, menu_shot: str | None = None) -> str:
        """Filters > CycleGAN (the last submenu) > its first entry; the dialog's window."""
        focus(self.window)
        keys("alt+r")
        wait_until(lambda: len(windows(MENU_POPUP)) == 1, "the Filters menu")
        keys("Up", "Right")
        wait_until(lambda: len(windows(MENU_POPUP)) == 2, "the CycleGAN submenu")
        if menu_shot:
            boxes = [geometry(w) for w in windows(MENU_POPUP)]
            left, right = min(b[0] for b in boxes), max(b[0] + b[2] for b in boxes)
            screenshot(menu_shot, (left - 60, 0, right - left + 80, max(b[1] + b[3] for b in boxes) + 10))
        keys("Return")
        dialog = wait_until(lambda: windows(f"^{JOB['label']}$"), "the plug-in's dialog")[0]
        focus(dialog)
        return dialog

    def answer(self, dialog: str, *key_names: str) -> None:
        """Press ``key_names`` in the dialog, then wait until it is closed and the plug-in has ended."""
        keys(*key_names)
        wait_until(lambda: dialog not in windows("."), "the dialog to close")
        wait_until(lambda: not plugin_running(), "the plug-in to end")

    def undo(self, done) -> None:
        """Ctrl+Z in the image window, once; waits until ``done()`` says the undo happened."""
        focus(self.window)
        keys("ctrl+z")
        wait_until(done, "the undo")

    def top_bytes(self) -> bytes:
        with open(dump_layer(self.image, self.image.get_layers()[0], os.path.join(JOB["out_dir"], "top.raw"))["raw"],
                  "rb") as f:
            return f.read()

    def layers(self, tag: str) -> list[dict]:
        return [dump_layer(self.image, layer, os.path.join(JOB["out_dir"], f"{tag}-{i}.raw"))
                for i, layer in enumerate(self.image.get_layers())]


def field(mnemonic: str, text: str) -> list[str]:
    """The keys that replace a dialog field's text (reached by its label's mnemonic)."""
    return [f"alt+{mnemonic}", "ctrl+a", *[{".": "period"}.get(c, c) for c in text], "Tab"]


def service_jobs() -> list[dict]:
    with open(os.path.join(JOB["home"], "serve.json")) as f:
        endpoint = json.load(f)
    request = urllib.request.Request(endpoint["url"] + "/v1/jobs", headers={"Authorization": f"Bearer {endpoint['token']}"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
        return json.load(response)["jobs"]


def ok_undo_and_again(small: Session, report: dict) -> None:
    """OK with typed values, Ctrl+Z, then the dialog again (remembered values) with New layer switched off."""
    original = small.top_bytes()
    dialog = small.open_dialog(os.path.join(JOB["out_dir"], "menu.png"))
    report["dialog_title"] = xdotool("getwindowname", dialog)
    screenshot(os.path.join(JOB["out_dir"], "dialog.png"), window=dialog)
    small.answer(dialog, *field("t", JOB["strength"]), *field("w", JOB["work_size"]), "alt+o")
    report["ok"] = small.layers("ok")
    small.undo(lambda: len(small.image.get_layers()) == 1)  # what else it undid, the test checks
    report["undone"] = small.layers("undone")
    small.answer(small.open_dialog(), "alt+n", "alt+o")
    report["again"] = small.layers("again")
    small.undo(lambda: small.top_bytes() == original)  # changed in place: only the pixels tell


def cancel_while_running(big: Session, report: dict) -> None:
    """OK at full resolution, then the Cancel button beside the progress bar once the service runs the job."""
    report["big_before"] = big.layers("big-before")
    known = {job["job"] for job in service_jobs()}
    big.open_dialog()
    keys(*field("w", "full"), "alt+o")
    job = wait_until(lambda: [j for j in service_jobs() if j["job"] not in known and j["state"] == "running"],
                     "the big image's job to run")[0]
    x, y, _, _ = geometry(big.window)
    xdotool("mousemove", "--sync", str(x + PROGRESS_CANCEL[0]), str(y + PROGRESS_CANCEL[1]), "click", "1")
    report["running"] = job
    report["stopped"] = wait_until(lambda: [j for j in service_jobs() if j["job"] == job["job"] and j["state"] != "running"],
                                   "the job to stop")[0]
    wait_until(lambda: not plugin_running(), "the plug-in to end")
    report["big_after"] = big.layers("big-after")


def main():
    small, report = Session(JOB["small"]), {}
    report["original"] = small.layers("original")
    ok_undo_and_again(small, report)
    small.answer(small.open_dialog(), "Escape")
    report["cancelled"] = small.layers("cancelled")
    cancel_while_running(Session(JOB["big"]), report)
    with open(os.path.join(JOB["out_dir"], "report.json"), "w") as f:
        json.dump(report, f, indent=1)


main()
