"""Nano Banana (+ edit): the conformance suite over the recorded cases in replies/nano_banana.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_nano_banana import plugin

from kiecore.testing import PluginConformance


class TestNanoBanana(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
