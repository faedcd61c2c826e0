"""The read-ahead socket under ingest's MQTT client (ingest/readahead.py)."""

from __future__ import annotations

import socket

import pytest

from ingest.readahead import ReadAheadSocket


def test_small_reads_are_served_from_one_large_read_in_order() -> None:
    a, b = socket.socketpair()
    try:
        b.setblocking(False)
        reader = ReadAheadSocket(b)
        stream = bytes(range(256)) * 40  # 10,240 bytes
        a.sendall(stream)
        got = bytearray()
        sizes = [1, 1, 2, 5, 300, 1, 4096, 7]
        for size in sizes:
            piece = reader.recv(size)
            assert len(piece) == size
            got += piece
        assert reader.pending() == len(stream) - sum(sizes)  # all of it came in one recv
        while reader.pending():
            got += reader.recv(1000)
        assert bytes(got) == stream
        with pytest.raises(BlockingIOError):  # nothing buffered, nothing in the socket
            reader.recv(1)
        a.close()
        assert reader.recv(1) == b""  # the end of the stream reaches paho as before
    finally:
        a.close()
        b.close()


def test_everything_else_is_the_socket_itself() -> None:
    a, b = socket.socketpair()
    try:
        reader = ReadAheadSocket(b)
        assert reader.fileno() == b.fileno()
        reader.send(b"x")
        assert a.recv(1) == b"x"
    finally:
        a.close()
        b.close()
