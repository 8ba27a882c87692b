"""Ideogram Character: the conformance suite over the recorded cases in replies/ideogram_character.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_ideogram_character import plugin

from kiecore.testing import PluginConformance


class TestIdeogramCharacter(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
