"""``kie models``: installed models, the plugins serving them, their parameters, and load failures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kiecore.cli.cost import price_detail, price_summary
from kiecore.cli.output import print_json
from kiecore.declarations import ParamSpec, WireSpec
from kiecore.loading import load_registry
from kiecore.registry import ModelEntry, Registry
from kiecore.serialization import to_json
from kiecore.validation import describe_range

#: The `kie generate` option of each common parameter, where it is not simply --<name>.
COMMON_OPTIONS = {"prompt": "PROMPT", "image_urls": "--image", "num_images": "-n/--num-images"}


def run(args: argparse.Namespace) -> int:
    registry = load_registry()
    entries = [registry.resolve(args.model)] if args.model else registry.models()
    if args.json:
        print_json(
            {
                "models": [_entry_json(entry) for entry in entries],
                "failures": [{"plugin": to_json(f.plugin), "error": f.error} for f in registry.failures],
                "conflicts": {name: [str(info) for info in infos] for name, infos in registry.conflicts.items()},
            }
        )
        return 0
    if args.model:
        _describe(entries[0])
    else:
        _table(entries)
    _problems(registry)
    return 0


def _entry_json(entry: ModelEntry) -> dict[str, Any]:
    return {**to_json(entry.spec), "plugin": to_json(entry.plugin)}


def _table(entries: list[ModelEntry]) -> None:
    if not entries:
        print("no models installed: pip install a kiecore plugin, e.g. kiecore-nano-banana-pro")
        return
    rows = [
        (
            entry.spec.id,
            ", ".join(entry.spec.aliases),
            "/".join(p.value for p in entry.spec.profiles()),
            price_summary(entry.spec.price),
            str(entry.plugin),
        )
        for entry in entries
    ]
    header = ("MODEL", "ALIASES", "PROFILES", "CREDITS", "PLUGIN")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4])


def _describe(entry: ModelEntry) -> None:
    spec = entry.spec
    print(f"{spec.id} — {spec.title}")
    if spec.aliases:
        print(f"  aliases: {', '.join(spec.aliases)}")
    print(f"  plugin: {entry.plugin}   typical: {spec.typical_seconds:g}s   max images: {spec.max_images}")
    if spec.description:
        print(f"  {spec.description}")
    price = f"  price: {price_detail(spec.price)}"
    print(f"{price} ({spec.price.source})" if spec.price is not None and spec.price.source else price)
    for profile in spec.profiles():
        wire = spec.wire(profile)
        print(f"\n  {profile.value} profile: {wire.dialect} dialect, POST {wire.submit_path}")
        for param in wire.params:
            print(f"    {_param_line(param)}")
        _requires(wire)


def _param_line(param: ParamSpec) -> str:
    parts = [f"{param.name} ({param.kind.value}{', required' if param.required else ''})"]
    if param.common:
        parts.append(f"from {COMMON_OPTIONS.get(param.common, '--' + param.common.replace('_', '-'))}")
    if param.choices:
        parts.append("one of " + "|".join(str(choice) for choice in param.choices))
    if param.minimum is not None or param.maximum is not None:
        parts.append(f"range {describe_range(param)}")
    if param.max_length is not None:
        parts.append(f"≤{param.max_length} chars")
    if param.max_items is not None:
        parts.append(f"≤{param.max_items} items")
    if param.max_file_bytes is not None:
        parts.append(f"local files ≤{param.max_file_bytes / (1024 * 1024):g} MB")
    if param.default is not None:
        parts.append(f"default {json.dumps(param.default) if isinstance(param.default, bool) else param.default}")
    line = ", ".join(parts)
    return f"{line}: {param.description}" if param.description else line


def _requires(wire: WireSpec) -> None:
    for group in wire.requires_any:
        print(f"    (needs at least one of: {', '.join(group)})")


def _problems(registry: Registry) -> None:
    for failure in registry.failures:
        print(f"kie: plugin {failure.plugin.name} ({failure.plugin}) failed to load: {failure.error}", file=sys.stderr)
    for name, infos in registry.conflicts.items():
        who = " and ".join(str(info) for info in infos)
        print(f"kie: model name {name!r} is claimed by both {who}", file=sys.stderr)
