"""Flux Kontext Pro / Max: the conformance suite over the recorded cases in replies/flux_kontext.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_flux_kontext import plugin

from kiecore.testing import PluginConformance


class TestFluxKontext(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"
