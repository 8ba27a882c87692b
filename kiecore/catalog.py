"""What kiecore knows of plugins without loading one: the entry-point group they register under, and the models
kiecore's own plugins serve with the plugin distribution of each, as plain data, so that a model whose plugin is
not installed is named with what to install, instead of as unknown
(:class:`~kiecore.errors.ModelNotInstalledError`). tests/test_catalog.py keeps it equal to what the installed
plugins declare; a plugin's own declarations stay the only source of everything else about a model."""

from __future__ import annotations

from collections.abc import Mapping

#: The entry-point group every kiecore plugin registers under (read by :mod:`kiecore.loading`).
ENTRY_POINT_GROUP = "kiecore.plugins"

#: Each plugin distribution of this repository and the model ids and aliases it registers.
PLUGINS: Mapping[str, tuple[str, ...]] = {
    "kiecore-nano-banana-pro": ("nano-banana-pro", "nbp", "google/nano-banana-pro"),
    "kiecore-gpt4o-image": (
        "4o-image-api",
        "4o-image-market",
        "gpt4o-image-market",
        "gpt4o-image",
        "gpt-4o-image",
        "4o-image",
        "gpt4o",
    ),
    "kiecore-flux-kontext": (
        "flux-kontext-max",
        "flux-max",
        "kontext-max",
        "flux-kontext-pro",
        "flux-kontext",
        "flux-pro",
        "kontext-pro",
        "flux1-kontext",
        "flux1-kontext-market",
        "kontext-market",
    ),
    "kiecore-nano-banana": (
        "google/nano-banana",
        "nano-banana",
        "google/nano-banana-edit",
        "nano-banana-edit",
        "nano-banana-2",
        "nb2",
        "google/nano-banana-2",
        "nano-banana-2-1",
        "nano-banana-2.1",
        "nb2.1",
        "google/nano-banana-2-1",
    ),
    "kiecore-seedream": (
        "bytedance/seedream-v4-edit",
        "seedream-v4-edit",
        "seedream-edit",
        "bytedance/seedream-v4-text-to-image",
        "seedream",
        "seedream-v4",
        "seedream-v4-text-to-image",
        "seedream/4.5-edit",
        "seedream-4.5-edit",
        "seedream/4.5-text-to-image",
        "seedream-4.5",
        "seedream-4.5-text-to-image",
    ),
    "kiecore-imagen4": (
        "google/imagen4",
        "imagen4",
        "imagen-4",
        "google/imagen-4",
        "google/imagen4-fast",
        "imagen4-fast",
        "imagen-4-fast",
        "google/imagen-4-fast",
        "google/imagen4-ultra",
        "imagen4-ultra",
        "imagen-4-ultra",
        "google/imagen-4-ultra",
    ),
    "kiecore-ideogram-v3": ("ideogram/v3-text-to-image", "ideogram-v3", "ideogram/v3"),
    "kiecore-ideogram-character": ("ideogram/character", "ideogram-character"),
    "kiecore-gpt-image": (
        "gpt-image-2-5-flare-image-to-image",
        "gpt-image-2.5-flare-edit",
        "gpt-image-2-5-flare-edit",
        "gpt-image-2.5-flare-i2i",
        "gpt-image-2-5-flare-text-to-image",
        "gpt-image-2.5-flare",
        "gpt-image-2-5-flare",
        "gpt-image-2.5-flare-t2i",
        "gpt-image-2-5-sunburst-image-to-image",
        "gpt-image-2.5-sunburst-edit",
        "gpt-image-2-5-sunburst-edit",
        "gpt-image-2.5-sunburst-i2i",
        "gpt-image-2-5-sunburst-text-to-image",
        "gpt-image-2.5-sunburst",
        "gpt-image-2-5-sunburst",
        "gpt-image-2.5-sunburst-t2i",
        "gpt-image-2-image-to-image",
        "gpt-image-2-edit",
        "gpt-image-2-i2i",
        "gpt-image-2-text-to-image",
        "gpt-image-2",
        "gpt-image-2-t2i",
    ),
    "kiecore-flux-2": (
        "flux-2/flex-image-to-image",
        "flux-2-flex-i2i",
        "flux2-flex-i2i",
        "flux-2/flex-text-to-image",
        "flux-2-flex",
        "flux2-flex",
        "flux-2/pro-image-to-image",
        "flux-2-pro-i2i",
        "flux2-pro-i2i",
        "flux-2/pro-text-to-image",
        "flux-2",
        "flux-2-pro",
        "flux2-pro",
    ),
    "kiecore-grok-imagine": (
        "grok-imagine/image-to-image",
        "grok-imagine-i2i",
        "grok-i2i",
        "grok-imagine-image-to-image",
        "grok-imagine/text-to-image",
        "grok-imagine",
        "grok",
        "grok-imagine-text-to-image",
    ),
    "kiecore-z-image": ("z-image", "zimage"),
    "kiecore-topaz": ("topaz/image-upscale", "topaz", "topaz-upscale", "upscale"),
}

_BY_NAME = {name.lower(): distribution for distribution, names in PLUGINS.items() for name in names}


def distribution_of(name: str) -> str | None:
    """The plugin distribution that serves the model id or alias ``name`` (case-insensitively), else ``None``."""
    return _BY_NAME.get(name.lower())
