"""Topaz: the conformance suite over the recorded cases in replies/topaz.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_topaz import plugin

from kiecore.testing import PluginConformance


class TestTopaz(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
