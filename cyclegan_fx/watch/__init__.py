"""``cyclegan-fx watch``: a hot-folder daemon that translates every image dropped into a folder.

Each file is claimed by an atomic rename, so any number of daemons can share a folder, and a daemon
killed at any moment resumes without losing, duplicating or half-writing a file. The daemon itself
is ``cyclegan_fx.watch.daemon.run`` (it loads models, so it is not imported here).
"""

from cyclegan_fx.watch.config import FolderConfig, WatchConfig, folder_config, load_config

__all__ = ["FolderConfig", "WatchConfig", "folder_config", "load_config"]
