"""File names, image types and result hosts: what is saved where, and from where."""

from __future__ import annotations

import socket

import pytest

from kiecore.imagetypes import SNIFF_BYTES, sniff
from kiecore.naming import Naming
from kiecore.urlcheck import non_public_address


@pytest.mark.parametrize(
    ("task_id", "index", "count", "name"),
    [
        ("abc", 0, 1, "abc.png"),
        ("abc", 0, 2, "abc_1.png"),
        ("abc", 1, 2, "abc_2.png"),
        ("../../etc/passwd", 0, 1, "etc_passwd.png"),
        ("a b/c", 0, 1, "a_b_c.png"),
        ("...", 0, 1, "task.png"),
    ],
)
def test_file_names_come_from_the_task_id_only(task_id: str, index: int, count: int, name: str) -> None:
    names = Naming().for_task(model="m", task_id=task_id, prompt="p", submitted_at=1.0, count=count)
    assert names.name(index, "png") == name


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 4, "png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 8, "jpg"),
        (b"RIFF\0\0\0\0WEBP", "webp"),
        (b"GIF89a" + b"\0" * 6, "gif"),
        (b"GIF87a" + b"\0" * 6, "gif"),
        (b"RIFF\0\0\0\0WAVE", None),
        (b"<html><body>", None),
        (b"#!/bin/sh\nrm", None),
        (b"MZ\x90\0", None),
        (b"", None),
    ],
)
def test_image_types_by_their_first_bytes(head: bytes, kind: str | None) -> None:
    assert len(head) <= SNIFF_BYTES and sniff(head) == kind


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "[::1]",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
        "fe80::1",
    ],
)
def test_non_public_addresses_are_named(host: str) -> None:
    assert non_public_address(host, 443) is not None


def test_public_addresses_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    assert non_public_address("93.184.216.34", 443) is None
    resolved = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: resolved)
    assert non_public_address("cdn.example", 443) is None
    resolved.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443)))  # one private answer is enough
    assert non_public_address("cdn.example", 443) == "10.0.0.7"
