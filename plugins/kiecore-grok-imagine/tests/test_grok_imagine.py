"""Grok Imagine (text-to-image, image-to-image): the conformance suite over replies/grok_imagine.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_grok_imagine import plugin

from kiecore.testing import PluginConformance


class TestGrokImagine(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
