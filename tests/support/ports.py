"""Free loopback ports and waiting for servers, for fixtures.

Many test processes run at once (pytest-xdist workers, and other people's runs on the same
machine), and a server binds the port it was given some time after it was chosen. So a
port is handed out only if it can be bound AND this process holds its lock file (an
``flock`` on /tmp/hearth-test-ports/<port>, released when the process ends or after
``_HOLD_S``); the ports come from below the kernel's ephemeral range (32768-60999), so the
client side of an outgoing connection never takes a port a server is about to bind.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

_RANGE = (20000, 32767)  # below net.ipv4.ip_local_port_range
_LOCKS = Path(tempfile.gettempdir()) / "hearth-test-ports"
_HOLD_S = 600.0  # a port's lock is kept this long (a server restarted on it within a test)
_held: deque[tuple[float, int]] = deque()  # (when, fd) of the locks this process holds


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _release_old() -> None:
    while _held and time.monotonic() - _held[0][0] > _HOLD_S:
        os.close(_held.popleft()[1])


def _claim(port: int) -> bool:
    fd = os.open(_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    if not _bindable(port):
        os.close(fd)
        return False
    _held.append((time.monotonic(), fd))
    return True


def free_port() -> int:
    """A loopback TCP port nobody listens on and no other test process was given."""
    _LOCKS.mkdir(mode=0o777, exist_ok=True)
    _release_old()
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rng.randint(*_RANGE)
        if _claim(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # pragma: no cover
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 60.0, host: str = "127.0.0.1",
                  alive: Callable[[], bool] | None = None) -> None:
    """Until something accepts connections on the port (a condition: it returns as soon as
    the server listens; the timeout is sized for a loaded machine). With ``alive``, stop
    waiting as soon as it says the server's process has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            break
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")
