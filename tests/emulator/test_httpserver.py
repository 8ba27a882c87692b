"""HTTP plumbing (httpserver.py): keep-alive, request bodies."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

from kiecore.emulator import Emulator
from tests.emulator.helpers import LIVE, MARKET_CREATE, MARKET_STATUS, market_body


def test_keep_alive_serves_several_requests_on_one_connection(emulator: Emulator) -> None:
    parts = urlsplit(emulator.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", f"{MARKET_STATUS}?taskId=x", headers=LIVE)
            response = connection.getresponse()
            assert json.loads(response.read())["code"] == 422
            assert response.getheader("Content-Length") is not None
    finally:
        connection.close()


def test_a_chunked_body_is_read_whole(emulator: Emulator) -> None:
    body = json.dumps(market_body()).encode()
    parts = urlsplit(emulator.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("POST", MARKET_CREATE, body=iter([body[:10], body[10:]]), headers=LIVE, encode_chunked=True)
        assert json.loads(connection.getresponse().read())["code"] == 200
    finally:
        connection.close()
    [task] = emulator.tasks.values()
    assert task.body == market_body() and emulator.requests[0].body == body


def test_a_negative_content_length_is_a_bad_request(emulator: Emulator) -> None:
    parts = urlsplit(emulator.base_url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=5) as connection:
        connection.sendall(f"POST {MARKET_CREATE} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".encode())
        assert connection.recv(65536).startswith(b"HTTP/1.1 400 ")
    assert emulator.requests == []
