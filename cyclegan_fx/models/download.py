"""Download the official pretrained generators into the model store: resumable, and checked before they land."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from cyclegan_fx import __version__
from cyclegan_fx.errors import CheckpointError, ConfigError, DownloadError, OutputError
from cyclegan_fx.io.atomic import temporary_sibling
from cyclegan_fx.models.bundle import MANIFEST, Model
from cyclegan_fx.models.catalogue import TRAINING_SIZE, Pretrained, find
from cyclegan_fx.models.store import ModelStore, cache_home

DEFAULT_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models"
URL_ENV = "CYCLEGAN_FX_MODELS_URL"
TIMEOUT_S = 30
_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")

log = logging.getLogger("cyclegan_fx")


class Progress(Protocol):
    def update(self, done: int, total: int | None) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def __init__(self, label: str) -> None:
        pass

    def update(self, done: int, total: int | None) -> None:
        pass

    def close(self) -> None:
        pass


def base_url(override: str | None = None) -> str:
    """``override``, else ``$CYCLEGAN_FX_MODELS_URL``, else the official server; without a trailing slash."""
    url = (override or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"The models URL {url!r} is not an http:// or https:// address.")
    return url


def download_path(url: str) -> Path:
    """Where ``url`` is downloaded to (``.part`` appended while incomplete): one name per URL, so that a
    partial file is only ever resumed from the server it came from."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return cache_home() / "downloads" / f"{Path(urllib.parse.urlsplit(url).path).stem}-{digest}.pth"


def install(
    name: str,
    url: str | None = None,
    force: bool = False,
    store: ModelStore | None = None,
    progress: Callable[[str], Progress] = _Silent,
) -> Model:
    """Download the bundle that ``name`` selects and install it; the store is only changed once all is right."""
    entry = find(name)
    base = base_url(url)
    store = store or ModelStore()
    _check_free(store, entry.name, force)
    urls = {direction: f"{base}/{source.file}.pth" for direction, source in entry.sources().items()}
    files = {}
    for direction, file_url in urls.items():  # a failure here keeps what arrived, for the next run
        bar = progress(f"{entry.sources()[direction].file}.pth")
        try:
            files[direction] = fetch(file_url, download_path(file_url), bar)
        finally:
            bar.close()
    try:
        return _install(store, entry, files, urls, force)
    finally:
        for path in files.values():  # in the store now, or refused
            path.unlink(missing_ok=True)


def fetch(url: str, dest: Path, progress: Progress) -> Path:
    """Download ``url`` into ``dest`` by way of ``dest``.part, resuming a partial file where the server allows."""
    part = dest.with_name(dest.name + ".part")
    if dest.is_file():
        log.info("Using %s, downloaded whole from %s before", dest, url)
        return dest
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        response = _open(url, have)
        if response is None:  # the partial file is as long as the server's file or longer: it is not a prefix
            part.unlink()
            have, response = 0, _open(url, 0)
        with response:
            try:
                start, total = _span(response, have, url)
            except DownloadError:
                part.unlink()  # the next run starts over rather than asking for the same bad range again
                raise
            size = "size unknown" if total is None else f"{total / 1e6:.1f} MB"
            log.info("Downloading %s (%s%s)", url, size, f", resuming at {start / 1e6:.1f} MB" if start else "")
            with part.open("ab" if start else "wb") as f:
                _receive(response, f, start, total, progress, url)
        os.replace(part, dest)
    except OSError as exc:
        raise OutputError(f"Cannot write {part}: {exc.strerror or exc}.") from exc
    return dest


def _open(url: str, have: int) -> http.client.HTTPResponse | None:
    """The server's response for ``url`` from byte ``have`` on; None where that range is past its end."""
    headers = {"User-Agent": f"cyclegan-fx/{__version__}", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            return None
        raise DownloadError(
            f"{url} answered HTTP {exc.code} ({exc.reason}); check the model name, and the mirror if --url gave one."
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        host = urllib.parse.urlsplit(url).netloc
        raise DownloadError(
            f"Cannot reach {host} ({_why(exc)}); pass --url BASE (or set {URL_ENV}) to download from a mirror."
        ) from exc


def _span(response: http.client.HTTPResponse, have: int, url: str) -> tuple[int, int | None]:
    """Where the body starts in the file, and the file's size (None: the server did not say)."""
    if response.status == 206:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if not found or int(found.group(1)) != have:
            raise DownloadError(f"{url} answered a request for bytes {have}- with other bytes; the partial file was discarded, so running the command again starts over.")
        return have, None if found.group(2) == "*" else int(found.group(2))
    length = response.headers.get("Content-Length")
    return 0, int(length) if length else None  # the whole file: a server that ignores Range makes us start over


def _receive(response: http.client.HTTPResponse, f: BinaryIO, start: int, total: int | None,
             progress: Progress, url: str) -> None:
    """Write the body after the ``start`` bytes already in ``f``, then flush it to disk."""
    done = start
    progress.update(done, total)
    while chunk := _read(response, url, done):
        f.write(chunk)
        done += len(chunk)
        progress.update(done, total)
    f.flush()
    os.fsync(f.fileno())
    if total is not None and done != total:
        raise DownloadError(
            f"The download of {url} stopped after {done / 1e6:.1f} of {total / 1e6:.1f} MB; run the command again to resume it."
        )


def _read(response: http.client.HTTPResponse, url: str, done: int) -> bytes:
    try:
        return response.read(_CHUNK)
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(
            f"The download of {url} broke off after {done / 1e6:.1f} MB ({_why(exc)}); run the command again to resume it."
        ) from exc


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    return getattr(reason, "strerror", None) or str(reason) or type(reason).__name__


def _check_free(store: ModelStore, name: str, force: bool) -> None:
    if (store.models_dir / name / MANIFEST).is_file() and not force:
        raise OutputError(f"Model {name!r} is installed already; pass --force to download it again and replace it.")


def _install(store: ModelStore, entry: Pretrained, files: dict[str, Path], urls: dict[str, str], force: bool) -> Model:
    """Import every direction into a staging store beside the real one, then move the finished bundle in."""
    staging = ModelStore(temporary_sibling(store.models_dir))
    try:
        for direction, source in entry.sources().items():
            labels = {"label": source.label} if direction == "a2b" else {"label_b2a": source.label}
            try:
                staging.import_checkpoint(files[direction], entry.name, direction=direction,
                                          training_size=TRAINING_SIZE,
                                          provenance={"source": urls[direction], "url": urls[direction]}, **labels)
            except CheckpointError as exc:  # name what was downloaded, not the cache file that is deleted next
                raise type(exc)(str(exc).replace(str(files[direction]), urls[direction])) from exc
        _move_in(staging.models_dir / entry.name, store, staging.home, force)
    except OSError as exc:
        raise OutputError(f"Cannot install {entry.name} into {store.models_dir}: {exc.strerror or exc}.") from exc
    finally:
        shutil.rmtree(staging.home, ignore_errors=True)
    return store.get(entry.name)


def _move_in(bundle: Path, store: ModelStore, trash: Path, force: bool) -> None:
    """Rename ``bundle`` into the store; a bundle of that name is renamed into ``trash`` first, never half-deleted."""
    target = store.models_dir / bundle.name
    _check_free(store, bundle.name, force)  # again: another process may have installed it meanwhile
    store.models_dir.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.replace(target, trash / "replaced")
    os.replace(bundle, target)
