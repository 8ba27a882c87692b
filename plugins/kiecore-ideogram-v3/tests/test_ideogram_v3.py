"""Ideogram V3: the conformance suite over the recorded cases in replies/ideogram_v3.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_ideogram_v3 import plugin

from kiecore.testing import PluginConformance


class TestIdeogramV3(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
