"""A new task from a create body: its files' count and extension (creation.py)."""

from __future__ import annotations

import io

from PIL import Image

from kiecore.emulator import Emulator
from tests.emulator.helpers import MARKET_CREATE, at, create, fetch, market_body


def test_jpg_word_gives_jpg_extension(emulator: Emulator) -> None:
    task_id = create(
        emulator, MARKET_CREATE, {"model": "nano-banana-pro", "input": {"prompt": "x", "output_format": "jpg"}}
    )
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    assert url.endswith("/0.jpg") and Image.open(io.BytesIO(fetch(url).data)).format == "JPEG"


def test_image_count_is_capped_by_max_images(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body(num_images="5"))
    assert len(emulator.tasks[task_id].urls) == 4
