"""Flux 2 (Pro and Flex, text-to-image and image-to-image): the conformance suite over replies/flux_2.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_flux_2 import plugin

from kiecore.testing import PluginConformance


class TestFlux2(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
