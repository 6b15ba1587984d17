"""What jupyter-server-proxy starts in the companion's place when it cannot run (no Node.js 20+,
no companion build): it answers every request on the companion's socket with a 503 and the reason,
as the companion's own errors look ({error, message}), so JupyterLab's panel shows the sentence
that says how to fix it instead of a bare 500.

    python -m jupyterlab_slurm_kernels._unavailable SOCKET MESSAGE
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler


def serve(socket_path: str, message: str) -> None:
    body = json.dumps({"error": "companion_unavailable", "message": message}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

        def address_string(self) -> str:  # a unix socket has no client address
            return "local"

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    # Another lab of this user may have a companion on this socket: stand by while it answers.
    while _answers(socket_path):
        time.sleep(2)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    with Server(socket_path, Handler) as server:
        os.chmod(socket_path, 0o600)
        sys.stderr.write(f"slurm-kernels: the companion cannot start: {message}\n")
        server.serve_forever()


def _answers(socket_path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(socket_path)
            return True
        except OSError:
            return False


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
