"""Imagen 4 Ultra, Standard and Fast: the conformance suite over the recorded cases in replies/imagen4.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_imagen4 import plugin

from kiecore.testing import PluginConformance


class TestImagen4(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
