"""Nano Banana Pro: the conformance suite over the recorded cases in replies/nano_banana_pro.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_nano_banana_pro import plugin

from kiecore.testing import PluginConformance


class TestNanoBananaPro(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
