"""The models kiecore's own plugins serve, and the plugin distribution of each, as plain data: so that a model
whose plugin is not installed is named with what to install, instead of as unknown
(:class:`~kiecore.errors.ModelNotInstalledError`). tests/test_catalog.py keeps it equal to what the installed
plugins declare; a plugin's own declarations stay the only source of everything else about a model."""

from __future__ import annotations

from collections.abc import Mapping

#: Each plugin distribution of this repository and the model ids and aliases it registers.
PLUGINS: Mapping[str, tuple[str, ...]] = {
    "kiecore-nano-banana-pro": ("nano-banana-pro", "nbp", "google/nano-banana-pro"),
    "kiecore-gpt4o-image": ("gpt4o-image", "gpt-4o-image", "4o-image", "gpt4o"),
    "kiecore-flux-kontext": (
        "flux-kontext-pro",
        "flux-kontext",
        "flux-pro",
        "kontext-pro",
        "flux-kontext-max",
        "flux-max",
        "kontext-max",
    ),
    "kiecore-nano-banana": ("google/nano-banana", "nano-banana", "google/nano-banana-edit", "nano-banana-edit"),
    "kiecore-seedream": (
        "bytedance/seedream-v4-text-to-image",
        "seedream",
        "seedream-v4",
        "seedream-v4-text-to-image",
        "bytedance/seedream-v4-edit",
        "seedream-v4-edit",
        "seedream-edit",
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
}

_BY_NAME = {name.lower(): distribution for distribution, names in PLUGINS.items() for name in names}


def distribution_of(name: str) -> str | None:
    """The plugin distribution that serves the model id or alias ``name`` (case-insensitively), else ``None``."""
    return _BY_NAME.get(name.lower())
