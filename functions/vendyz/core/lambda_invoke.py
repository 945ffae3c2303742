"""A minimal client of the Lambda Invoke API: one HTTP/1.1 POST per RequestResponse invoke.

The order path invokes Inventory once per order. botocore spent ~700 µs of CPU on each call
(endpoint rules, event hooks, its HTTP stack, response parsing) and ~150 ms of cold start; an
invoke is one keep-alive POST, so each instance thread keeps its own connection and speaks
HTTP/1.1 on it directly, signed with SigV4 for AWS and LocalStack.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from vendyz.core.sigv4 import Credentials, sign

_MAX_LINE = 65536
_MAX_HEADERS = 100
_INVOKE_HEADERS = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}


@functools.lru_cache(maxsize=16)
def _invoke_path(function_name: str) -> str:
    """Built once per function: an instance invokes the same few functions all its life."""
    return f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"


class InvokeFailed(Exception):
    """No reply: the connection could not be made, broke, or the reply did not come in time."""


class _StaleConnection(Exception):
    """A kept connection turned out closed before any reply: safe to try a fresh one."""


@dataclass(frozen=True)
class InvokeReply:
    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes


@dataclass(frozen=True)
class Endpoint:
    tls: bool
    host: str
    port: int

    @classmethod
    def parse(cls, endpoint_url: str | None, region: str) -> Endpoint:
        """`endpoint_url`: the local cloud's or LocalStack's; None for AWS's regional one."""
        parts = urlsplit(endpoint_url or f"https://lambda.{region}.amazonaws.com")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint URL: {endpoint_url!r}")
        tls = parts.scheme == "https"
        return cls(tls, parts.hostname, parts.port or (443 if tls else 80))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        default = self.port == (443 if self.tls else 80)
        return host if default else f"{host}:{self.port}"


class _Connection:
    def __init__(self, endpoint: Endpoint, timeout: float, tls: ssl.SSLContext | None) -> None:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        # Request head and body go out in one write, but a reply must not wait for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=endpoint.host)
        self._sock = sock
        self._reader: BinaryIO = sock.makefile("rb")
        self.reused = False

    def exchange(self, request: bytes) -> tuple[InvokeReply, bool]:
        """Send the request and read the reply; (reply, whether the connection stays open)."""
        try:
            self._sock.sendall(request)
            status_line = self._reader.readline(_MAX_LINE)
        except (BrokenPipeError, ConnectionResetError) as exc:
            if self.reused:
                raise _StaleConnection from exc
            raise
        if not status_line:
            if self.reused:
                raise _StaleConnection
            raise ConnectionError("the endpoint closed the connection without a reply")
        self.reused = True
        version, _, rest = status_line.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise ConnectionError(f"not an HTTP reply: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = self._reader.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ConnectionError("too many reply headers")
        keep_open = headers.get("connection", "").lower() != "close"
        if code in (b"204", b"304"):  # no body, whatever the headers say
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exactly(int(headers["content-length"]))
        else:
            body, keep_open = self._reader.read(), False
        return InvokeReply(int(code), headers, body), keep_open

    def _read_exactly(self, size: int) -> bytes:
        data = self._reader.read(size)
        if len(data) != size:
            raise ConnectionError("the reply ended early")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self._reader.readline(_MAX_LINE).split(b";")[0], 16)
            if size == 0:
                while self._reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self._read_exactly(size))
            self._read_exactly(2)  # the CRLF after each chunk

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


class LambdaInvokeClient:
    """RequestResponse invokes over one keep-alive connection per thread (a thread is one
    Lambda instance, serving one request at a time)."""

    def __init__(
        self,
        endpoint_url: str | None,
        *,
        region: str,
        timeout_seconds: float,
        credentials: Credentials | None,
        user_agent: str,
    ) -> None:
        """`credentials`: None sends unsigned requests.
        `timeout_seconds` bounds the connect and, separately, each read of the reply."""
        self._endpoint = Endpoint.parse(endpoint_url, region)
        self._region = region
        self._timeout = timeout_seconds
        self._credentials = credentials
        self._host = self._endpoint.host_header
        # The header lines every invoke sends, built once (SigV4 signs _INVOKE_HEADERS).
        self._fixed_head = f"Host: {self._host}\r\nUser-Agent: {user_agent}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in _INVOKE_HEADERS.items()
        )
        self._tls = ssl.create_default_context() if self._endpoint.tls else None
        self._local = threading.local()

    def invoke(self, function_name: str, payload: bytes) -> InvokeReply:
        """POST the payload to the function; raises InvokeFailed when no reply came."""
        request = self._request(function_name, payload)
        # A kept connection may have been closed by the endpoint while idle: one fresh try.
        # (Only before any reply byte; the callee is idempotent should it have run anyway.)
        for _ in range(2):
            connection: _Connection | None = getattr(self._local, "connection", None)
            try:
                if connection is None:
                    connection = _Connection(self._endpoint, self._timeout, self._tls)
                    self._local.connection = connection
                reply, keep_open = connection.exchange(request)
            except _StaleConnection:
                self._drop(connection)
                continue
            except TimeoutError as exc:
                self._drop(connection)
                raise InvokeFailed(f"no reply within {self._timeout:g} s") from exc
            except (OSError, ValueError) as exc:
                self._drop(connection)
                raise InvokeFailed(f"{type(exc).__name__}: {exc}") from exc
            if not keep_open:
                self._drop(connection)
            return reply
        raise InvokeFailed("the endpoint closed the connection twice without a reply")

    def _request(self, function_name: str, payload: bytes) -> bytes:
        path = _invoke_path(function_name)
        head = f"POST {path} HTTP/1.1\r\n{self._fixed_head}Content-Length: {len(payload)}\r\n"
        if self._credentials is not None:
            signature = sign(
                host=self._host,
                path=path,
                headers=_INVOKE_HEADERS,
                body=payload,
                region=self._region,
                service="lambda",
                credentials=self._credentials,
            )
            head += "".join(f"{name}: {value}\r\n" for name, value in signature.items())
        return (head + "\r\n").encode("latin-1") + payload

    def _drop(self, connection: _Connection | None) -> None:
        self._local.connection = None
        if connection is not None:
            connection.close()
