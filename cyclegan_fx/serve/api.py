"""The HTTP API of the service (standard library server); every request carries the service's token.

    GET  /v1/status                 the service, its device and loaded models
    GET  /v1/models                 installed models and each direction's menu label
    POST /v1/translate              JSON header line, newline, raw pixels -> the same, translated
    GET  /v1/jobs                   recent jobs; GET /v1/jobs/ID: one job's state and progress
    POST /v1/jobs/ID/cancel         stop a queued or running job

Errors are a status code and ``{"error": "one sentence"}``; nothing a client sends ends the service.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import select
import socket
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from cyclegan_fx.errors import (
    CheckpointError,
    ConfigError,
    CycleganFxError,
    DeviceError,
    DirectionError,
    ImageTooLargeError,
    ImageTooSmallError,
    JobCancelled,
    ModelNotFoundError,
    RequestError,
)
from cyclegan_fx.serve.protocol import MAX_HEADER, decode_pixels, encode_pixels, parse_header, response_header
from cyclegan_fx.serve.service import Service

log = logging.getLogger("cyclegan_fx")

_STATUS = [  # the first matching type gives the status; order from specific to general
    (RequestError, HTTPStatus.BAD_REQUEST),
    (ConfigError, HTTPStatus.BAD_REQUEST),
    (ModelNotFoundError, HTTPStatus.NOT_FOUND),
    (DirectionError, HTTPStatus.NOT_FOUND),
    (ImageTooLargeError, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (ImageTooSmallError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (JobCancelled, HTTPStatus.CONFLICT),
    (DeviceError, HTTPStatus.SERVICE_UNAVAILABLE),
    (CheckpointError, HTTPStatus.INTERNAL_SERVER_ERROR),
    (CycleganFxError, HTTPStatus.UNPROCESSABLE_ENTITY),
]
_DRAIN_LIMIT = 256 * 1024 * 1024  # an unread body up to this size is read and dropped so the answer arrives
_JOB = re.compile(r"^/v1/jobs/([A-Za-z0-9_-]{1,64})$")
_CANCEL = re.compile(r"^/v1/jobs/([A-Za-z0-9_-]{1,64})/cancel$")


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def make_handler(service: Service, token: str) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one service and its token."""

    class Handler(ApiHandler):
        pass

    Handler.service, Handler.token = service, token
    return Handler


class ApiHandler(BaseHTTPRequestHandler):
    service: Service
    token: str
    server_version = "cyclegan-fx"
    timeout = 120  # seconds a client may stall while sending; then its connection is dropped

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        self.close_connection = True  # one request per connection: an unread body never leaks into the next
        self._consumed = 0
        try:
            with self.service.busy():
                self._check_token()
                self._route(method, urlsplit(self.path).path)()
        except HttpError as exc:
            self._send_error(exc.status, str(exc))
        except CycleganFxError as exc:
            self._send_error(_status_of(exc), str(exc))
        except (ConnectionError, TimeoutError) as exc:
            log.info("Client %s went away: %s.", self.client_address[0], exc)
        except Exception as exc:  # a bug: logged with its traceback here, one sentence for the client
            log.exception("Internal error on %s %s", method, self.path)
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR,
                             f"Internal error in the service ({type(exc).__name__}); see its log.")

    def _check_token(self) -> None:
        given = self.headers.get("Authorization", "")
        if not given.startswith("Bearer "):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "The request needs the header 'Authorization: Bearer TOKEN' "
                                                     "with the token from serve.json.")
        if not hmac.compare_digest(given[7:].encode("latin-1"), self.token.encode("latin-1")):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "The token is wrong; read the current one from serve.json.")

    def _route(self, method: str, path: str) -> Callable[[], None]:
        routes: dict[str, dict[str, Callable[[], None]]] = {
            "/v1/status": {"GET": lambda: self._send_json(self.service.status())},
            "/v1/models": {"GET": lambda: self._send_json({"models": self.service.models()})},
            "/v1/translate": {"POST": self._translate},
            "/v1/jobs": {"GET": lambda: self._send_json({"jobs": [j.to_json() for j in self.service.jobs.all()]})},
        }
        if (found := _JOB.match(path)) is not None:
            routes[path] = {"GET": lambda: self._job(found.group(1))}
        elif (found := _CANCEL.match(path)) is not None:
            routes[path] = {"POST": lambda: self._cancel(found.group(1))}
        if path not in routes:
            raise HttpError(HTTPStatus.NOT_FOUND, f"There is no {path}; see the API in the README.")
        if method not in routes[path]:
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {' or '.join(routes[path])}, not {method}.")
        return routes[path][method]

    def _translate(self) -> None:
        length = self._content_length()
        line = self.rfile.readline(min(length, MAX_HEADER + 1))
        self._consumed = len(line)
        if not line.endswith(b"\n") or len(line) > length:
            raise HttpError(HTTPStatus.BAD_REQUEST, "The body must start with a JSON header line of at most "
                                                    f"{MAX_HEADER // 1024} KiB, ended by a newline.")
        request = parse_header(line)
        limit = self.service.config.options.max_pixels
        if request.pixels > limit:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The image has {request.pixels} pixels, over "
                                                                 f"the service's limit of {limit}.")
        if length - len(line) != request.nbytes:
            raise RequestError(f"The body has {length - len(line)} bytes after the header but shape "
                               f"{list(request.shape)} of {request.dtype} needs {request.nbytes}.")
        body = self.rfile.read(request.nbytes)
        self._consumed += len(body)
        pixels = decode_pixels(request, body)
        result, job = self.service.translate(request, pixels, self._client_gone)
        header = response_header(request, job.id, job.finished - job.started)
        self._send(HTTPStatus.OK, [header, encode_pixels(result, request.dtype)], "application/octet-stream")

    def _client_gone(self) -> bool:
        """Whether the client closed its connection while its job waits or runs."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        try:
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def _content_length(self) -> int:
        value = self.headers.get("Content-Length")
        if value is None:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "The request needs a Content-Length header.")
        if not value.isdigit():
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Content-Length {value!r} is not a number of bytes.")
        return int(value)

    def _job(self, job_id: str) -> None:
        job = self.service.jobs.get(job_id)
        if job is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"There is no job {job_id!r}.")
        self._send_json(job.to_json())

    def _cancel(self, job_id: str) -> None:
        job = self.service.cancel(job_id)
        if job is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"There is no job {job_id!r}.")
        self._send_json(job.to_json(), HTTPStatus.ACCEPTED)

    def _send_json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, [json.dumps(data).encode() + b"\n"], "application/json")

    def _send_error(self, status: HTTPStatus, message: str) -> None:
        log.info("%s %s -> %d: %s", self.command, self.path, status, message)
        self._discard_body()
        self._send_json({"error": message}, status)

    def _discard_body(self) -> None:
        """Read what is left of the body, so that closing does not reset the connection before the answer."""
        value = self.headers.get("Content-Length", "")
        left = int(value) - self._consumed if value.isdigit() else 0
        try:
            while 0 < left <= _DRAIN_LIMIT:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    return
                left -= len(chunk)
        except OSError:
            return

    def _send(self, status: HTTPStatus, parts: list[bytes | memoryview], content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(memoryview(p).nbytes for p in parts)))
        self.end_headers()
        for part in parts:
            self.wfile.write(part)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Refusals of the standard server (request line, headers, method) as JSON too."""
        self.close_connection = True
        if code == HTTPStatus.NOT_IMPLEMENTED:  # an unknown method: the client's mistake, not a missing feature
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, "Use GET or POST; see the API in the README."
        self._send_json({"error": message or HTTPStatus(code).phrase}, HTTPStatus(code))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def _status_of(exc: CycleganFxError) -> HTTPStatus:
    return next(status for kind, status in _STATUS if isinstance(exc, kind))
