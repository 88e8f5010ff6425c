"""The local service behind the GIMP plug-in: a loopback HTTP API over warm runners."""

from cyclegan_fx.serve.config import ServiceConfig
from cyclegan_fx.serve.discovery import Endpoint, read_endpoint
from cyclegan_fx.serve.lifecycle import answers, run_service

__all__ = ["Endpoint", "ServiceConfig", "answers", "read_endpoint", "run_service"]
