"""GPT-4o Image: the conformance suite over the recorded cases in replies/gpt4o_image.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_gpt4o_image import GPT4O_IMAGE, GPT4O_IMAGE_MARKET, plugin

from kiecore import Profile
from kiecore.testing import PluginConformance


class TestGpt4oImage(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"

    def test_live_makes_one_image_per_task_the_reference_up_to_four(self) -> None:
        assert GPT4O_IMAGE.task_images(Profile.LIVE) == 1
        assert GPT4O_IMAGE.task_images(Profile.REFERENCE) == 4
        assert GPT4O_IMAGE_MARKET.task_images(Profile.LIVE) == 1
