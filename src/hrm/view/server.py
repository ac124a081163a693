"""Serving the page on 127.0.0.1 (``hrm view --serve``)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hrm.errors import UserError


class _PageHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?")[0] not in ("/", "/index.html"):
            self.send_error(404, "only / is served")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        pass  # quiet: the command prints the address once


@contextlib.contextmanager
def page_server(text: str, port: int = 0) -> Iterator[http.server.ThreadingHTTPServer]:
    """A server for the page on 127.0.0.1 only (``port`` 0: any free port), running in a background thread
    until the block exits."""
    handler = type("PageHandler", (_PageHandler,), {"body": text.encode("utf-8")})
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise UserError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror}); pick another port") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hrm-view", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_html(text: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Serve the page on http://127.0.0.1:PORT/ until Ctrl-C (which returns normally)."""
    with page_server(text, port) as server:
        announce(f"serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)")
        stop = threading.Event()  # never set: the loop ends with Ctrl-C (a short wait keeps it interruptible)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
