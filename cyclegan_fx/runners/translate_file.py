"""One image file through a runner: read, translate, write.

``translate_file`` does all three; pipelined front-ends (watch, image sequences) call the steps from their
own threads. Every front-end that translates image files goes through these, so each file is decoded,
translated and written the same way whichever command took it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cyclegan_fx.errors import ImageReadError, ImageTooLargeError, ImageTooSmallError, NotEnoughMemoryError
from cyclegan_fx.io.atomic import refuse_existing
from cyclegan_fx.io.image_format import ImageMeta
from cyclegan_fx.io.image_read import LoadedImage, load_image
from cyclegan_fx.io.image_write import save_image
from cyclegan_fx.runners.cache import WarmRunner
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.devices import is_out_of_memory
from cyclegan_fx.runtime.progress import ProgressCallback
from cyclegan_fx.runtime.runner import Runner

PathLike = str | os.PathLike[str]


def read_image(path: PathLike, options: RunOptions) -> LoadedImage:
    """Decode ``path`` upright at its own bit depth, refused before decoding if over ``options.max_pixels``."""
    return load_image(path, options.max_pixels)


def write_image(target: PathLike, pixels: np.ndarray, meta: ImageMeta | None, overwrite: bool) -> None:
    """Write under a temporary name, then rename; an existing ``target`` is replaced only with ``overwrite``."""
    save_image(target, pixels, meta, overwrite=overwrite)


def translate_file(
    runner: Runner | WarmRunner, source: PathLike, target: PathLike, options: RunOptions, overwrite: bool,
    progress: ProgressCallback | None = None,
) -> None:
    """Read ``source``, translate it and write ``target``; an existing target is refused before any work."""
    refuse_existing(Path(target), overwrite)
    image = read_image(source, options)
    write_image(target, runner.run(image.pixels, options, progress), image.meta, overwrite)


def about_the_input(exc: BaseException) -> bool:
    """Whether a failure of ``read_image`` or ``Runner.run`` is the image's own: it cannot be decoded,
    is too large or too small, or needs more memory than there is. Anything else may pass if tried again."""
    if isinstance(exc, (ImageReadError, ImageTooLargeError, ImageTooSmallError, NotEnoughMemoryError, MemoryError)):
        return True
    return is_out_of_memory(exc)
