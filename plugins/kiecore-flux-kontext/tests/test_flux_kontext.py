"""Flux Kontext: the conformance suite over the recorded cases in replies/flux_kontext.json."""

from __future__ import annotations

from pathlib import Path

from kiecore_flux_kontext import FLUX1_KONTEXT, MODELS, plugin

from kiecore.testing import PluginConformance


class TestFluxKontext(PluginConformance):
    plugin = plugin
    replies = Path(__file__).parent / "replies"

    def test_market_fields_are_the_documented_names(self) -> None:
        names = [param.name for param in FLUX1_KONTEXT.live.params]
        assert names == [
            "prompt",
            "aspect_ratio",
            "output_format",
            "input_image",
            "enable_translation",
            "prompt_upsampling",
            "safety_tolerance",
            "upload_cn",
            "watermark",
        ]

    def test_every_live_form_has_the_edit_mode_rule(self) -> None:
        for model in MODELS:
            (rule,) = model.live.rules
            image = model.live.for_common("image_urls")
            assert image is not None and list(rule.when) == [image.name]
            assert [param.name for param in model.live.params if param.name in rule.then] == list(rule.then)
