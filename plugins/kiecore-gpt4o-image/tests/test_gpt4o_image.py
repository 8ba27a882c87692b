"""GPT-4o Image: the conformance suite over the recorded cases in replies/gpt4o_image.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_gpt4o_image import plugin

from kiecore.testing import PluginConformance


class TestGpt4oImage(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
