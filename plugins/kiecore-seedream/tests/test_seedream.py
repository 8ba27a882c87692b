"""Seedream 4.0 (+ edit): the conformance suite over the recorded cases in replies/seedream.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_seedream import plugin

from kiecore.testing import PluginConformance


class TestSeedream(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
