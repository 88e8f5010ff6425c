"""Start the service, announce it in serve.json, stop it on a signal or after its idle time, clean up."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import urllib.request
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

from cyclegan_fx.errors import ServiceError
from cyclegan_fx.models import ModelStore, store_home
from cyclegan_fx.serve.api import make_handler
from cyclegan_fx.serve.config import HOST, ServiceConfig
from cyclegan_fx.serve.discovery import Endpoint, read_endpoint, remove_endpoint, serve_file, write_endpoint
from cyclegan_fx.serve.service import Service

log = logging.getLogger("cyclegan_fx")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        log.debug("Connection from %s ended with an error.", client_address[0], exc_info=True)


def run_service(config: ServiceConfig, stop: threading.Event | None = None,
                on_ready: Callable[[Endpoint], None] | None = None) -> None:
    """Serve until ``stop`` is set, a SIGTERM/SIGINT arrives, or nothing happened for the idle timeout."""
    home = home_of(config)
    running = read_endpoint(home)
    if running is not None and answers(running):
        raise ServiceError(f"A cyclegan-fx service is running already at {running.url} (pid {running.pid}); "
                           f"it is recorded in {serve_file(home)}.")
    stop = stop or threading.Event()
    service = Service(config, ModelStore(home))
    token = secrets.token_urlsafe(32)
    try:
        server = _Server((HOST, config.port), make_handler(service, token))
    except OSError as exc:
        raise ServiceError(f"Cannot listen on {HOST}:{config.port}: {exc.strerror or exc}.") from exc
    endpoint = Endpoint(f"http://{HOST}:{server.server_port}", token, os.getpid())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
    restore = _stop_on_signals(stop)
    try:
        write_endpoint(home, endpoint)
        thread.start()
        log.info("Serving at %s (pid %d); token and address in %s; idle timeout %.0f s.", endpoint.url,
                 endpoint.pid, serve_file(home), config.idle_timeout)
        if on_ready is not None:
            on_ready(endpoint)
        _wait(service, stop, config.idle_timeout)
    finally:
        restore()
        remove_endpoint(home, endpoint)
        if thread.is_alive():
            server.shutdown()
        server.server_close()
        service.close()
        log.info("Service stopped.")


def _wait(service: Service, stop: threading.Event, idle_timeout: float) -> None:
    check = min(5.0, idle_timeout / 4)
    while not stop.wait(check):
        if service.idle_for() > idle_timeout:
            log.info("No requests for %.0f s; exiting.", idle_timeout)
            return


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop`` (from the main thread only); returns what puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


def answers(endpoint: Endpoint, timeout: float = 2.0) -> bool:
    """Whether a cyclegan-fx service answers at ``endpoint`` with that token."""
    request = urllib.request.Request(endpoint.url + "/v1/status", headers={"Authorization": f"Bearer {endpoint.token}"})
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with direct.open(request, timeout=timeout) as response:
            return json.load(response).get("service") == "cyclegan-fx"
    except (OSError, ValueError):
        return False


def home_of(config: ServiceConfig) -> Path:
    """Where serve.json and the model store are."""
    return config.home if config.home is not None else store_home()
