"""Real SMTP servers on loopback for tests: an aiosmtpd server whose handler records every delivery (by
Message-ID) and can be told to be slow, to refuse or to stall at a given step; and raw socket servers that
refuse at the greeting (421) or accept a connection and never say a word."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

# An answer a step gives: None (the normal one) or an SMTP reply such as "550 5.1.1 No such user".
Rule = Callable[[str], str | None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """An aiosmtpd handler. ``deliveries`` counts each Message-ID the server accepted; ``messages`` keeps
    them. Knobs (all may be changed while it runs):

    - ``delay``: seconds to wait after a message is accepted (recorded) and before answering 250, so a
      client killed meanwhile has a mail in flight the server already has;
    - ``sender``: a function of the sender address, ``rcpt`` and ``data`` of the recipient, giving a reply
      to send instead of accepting (None: accept);
    - ``stall_mail``: seconds to sit on MAIL FROM before answering;
    - ``stall_data``: seconds to sit on the end of DATA (after recording the message) before answering.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: Counter[str] = Counter()
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.refused = 0
        self.delay = 0.0
        self.sender: Rule = lambda address: None
        self.rcpt: Rule = lambda address: None
        self.data: Rule = lambda address: None
        self.stall_mail = 0.0
        self.stall_data = 0.0

    @property
    def delivered(self) -> int:
        with self.lock:
            return sum(self.deliveries.values())

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.stall_mail:
            await asyncio.sleep(self.stall_mail)
        answer = self.sender(address)
        if answer:
            with self.lock:
                self.refused += 1
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        answer = self.rcpt(address)
        if answer:
            with self.lock:
                self.refused += 1
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = self.data(envelope.rcpt_tos[0])
        if answer:
            with self.lock:
                self.refused += 1
            return answer
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.deliveries[str(message["Message-ID"])] += 1
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        if self.stall_data:
            await asyncio.sleep(self.stall_data)
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(recorder: Recorder | None = None, port: int | None = None) -> Iterator[tuple[Recorder, int]]:
    """A real aiosmtpd server on 127.0.0.1 in a thread of this process."""
    recorder = recorder or Recorder()
    port = port or free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@contextmanager
def raw_server(greeting: bytes | None) -> Iterator[tuple[list[float], int]]:
    """A TCP server that sends ``greeting`` (e.g. b"421 ...") to each connection and closes it, or with
    ``greeting=None`` accepts connections and never says a word (holding them until it stops). Yields the
    times connections arrived and the port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    arrivals: list[float] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            arrivals.append(time.monotonic())
            if greeting is None:
                held.append(connection)
            else:
                try:
                    connection.sendall(greeting)
                finally:
                    connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield arrivals, listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()
