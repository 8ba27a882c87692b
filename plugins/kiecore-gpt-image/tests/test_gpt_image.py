"""GPT Image: the conformance suite over the recorded cases in replies/gpt_image.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_gpt_image import plugin

from kiecore.testing import PluginConformance


class TestGptImage(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
