"""What ``kie models`` prints: installed models, the plugins serving them, their parameters, and load failures
(:mod:`kiecore.cli.models_command` serves it from its cache when nothing it depends on changed).

With ``--json``, one object a line: ``{"kind": "model", ...}`` for each model (its declaration, and ``plugin``),
then ``{"kind": "load_failure", "plugin": {...}, "error": "..."}`` for each plugin that failed to load and
``{"kind": "conflict", "name": "...", "plugins": [...]}`` for each name two plugins claim (those also go to
stderr, as without ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys

from kiecore.cli.cost import price_detail, price_summary
from kiecore.cli.options import common_option
from kiecore.cli.output import print_json
from kiecore.declarations import ParamSpec, WireSpec
from kiecore.loading import load_registry
from kiecore.registry import ModelEntry, Registry
from kiecore.validation import describe_range


def run(args: argparse.Namespace) -> int:
    registry = load_registry()
    entries = [registry.resolve(args.model)] if args.model else registry.models()
    if args.json:
        from kiecore.serialization import to_json  # cattrs: only for --json, off the table's start-up path

        for entry in entries:
            print_json({"kind": "model", **to_json(entry.spec), "plugin": to_json(entry.plugin)})
        for failure in registry.failures:
            print_json({"kind": "load_failure", "plugin": to_json(failure.plugin), "error": failure.error})
        for name, infos in registry.conflicts.items():
            print_json({"kind": "conflict", "name": name, "plugins": [str(info) for info in infos]})
    elif args.model:
        _describe(entries[0])
    else:
        _table(entries)
    _problems(registry)
    return 0


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
    print(f"  plugin: {entry.plugin}   typical: {spec.typical_seconds:g}s")
    if spec.description:
        print(f"  {spec.description}")
    price = f"  price: {price_detail(spec.price)}"
    print(f"{price} ({spec.price.source})" if spec.price is not None and spec.price.source else price)
    for profile in spec.profiles():
        wire = spec.wire(profile)
        images = spec.task_images(profile)
        print(
            f"\n  {profile.value} profile: {wire.dialect} dialect, POST {wire.submit_path}, "
            f"{'up to ' if wire.for_common('num_images') else ''}{images} image{'s' if images > 1 else ''} per task"
        )
        for param in wire.params:
            print(f"    {_param_line(param)}")
        _requires(wire)
        for rule in wire.rules:
            limits = ", ".join(f"{name} {test.describe()}" for name, test in rule.then.items())
            print(f"    (with {rule.describe_when()}: {limits} only; {rule.reason})")


def _param_line(param: ParamSpec) -> str:
    parts = [f"{param.name} ({param.kind.value}{', required' if param.required else ''})"]
    if param.common:
        parts.append(f"from {common_option(param.common)}")
    if param.choices:
        parts.append("one of " + "|".join(str(choice) for choice in param.choices))
    if param.minimum is not None or param.maximum is not None:
        parts.append(f"range {describe_range(param)}")
    if param.min_length is not None:
        parts.append(f"≥{param.min_length} chars")
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
