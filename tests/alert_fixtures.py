"""Real receivers of alerts for the tests: an SMTP server (aiosmtpd) and a
webhook receiver (http.server), both on free loopback ports, and a port
nobody listens on."""
from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def free_port() -> int:
    """A loopback port free now (bound then released: aiosmtpd's start-up
    check cannot use port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What the SMTP server received: one (subject, text) per message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        self.messages.append((str(message["subject"]), "\n".join(parts)))
        return "250 OK"


@pytest.fixture
def smtp():
    """A running SMTP server: ``(mailbox, apprise mailto:// URL)``."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, (f"mailto://relphot@127.0.0.1:{port}?from=relphot@localhost&to=qc@localhost"
                        f"&mode=insecure&user=&pass=")
    finally:
        controller.stop()


class Webhook:
    """A JSON webhook receiver on a loopback port (Apprise's json://)."""

    def __init__(self, port: int = 0) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    """A running webhook receiver (`Webhook`)."""
    receiver = Webhook()
    try:
        yield receiver
    finally:
        receiver.close()
