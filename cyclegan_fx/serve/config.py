"""Settings of the local service; ``cyclegan-fx serve`` maps its options onto these."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cyclegan_fx.errors import ConfigError
from cyclegan_fx.runtime.config import RunOptions

HOST = "127.0.0.1"  # loopback only: the service is for programs of this user on this machine


@dataclass(frozen=True)
class ServiceConfig:
    port: int = 0  # 0: a free port chosen by the system
    idle_timeout: float = 900.0  # seconds without requests or jobs before the service exits
    device: str = "auto"
    precision: str = "auto"
    backend: str = "auto"
    options: RunOptions = field(default_factory=RunOptions)  # every job's options but strength and work size
    home: Path | None = None  # where serve.json and the model store are; None: the project's home

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"The port must be from 0 to 65535, not {self.port}.")
        if self.idle_timeout <= 0:
            raise ConfigError(f"The idle timeout must be positive, not {self.idle_timeout}.")
