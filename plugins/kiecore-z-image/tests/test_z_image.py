"""Z-Image: the conformance suite over the recorded cases in replies/z_image.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_z_image import plugin

from kiecore.testing import PluginConformance


class TestZImage(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
