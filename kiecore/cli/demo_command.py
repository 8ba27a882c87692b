"""``kie demo [OUT]``: one image with every installed model, through ``kie generate --emulator``, saved under
``OUT/<model>`` (default ``out``). ``make demo`` runs it; it needs no key and no network."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from kiecore.cli import main as kie
from kiecore.declarations import ModelSpec
from kiecore.loading import load_registry
from kiecore.model import Profile
from kiecore.registry import Registry
from kiecore.testing.endtoend import example_request

PROMPT = "a lighthouse on a cliff at dusk"


def required_options(spec: ModelSpec, profile: Profile) -> list[str]:
    """``kie generate`` options giving what ``spec`` requires beyond a prompt (image URLs, ``-p`` values)."""
    request = example_request(spec, profile, PROMPT)
    return [f"--image={url}" for url in request.image_urls] + [f"-p{k}={v}" for k, v in request.extra.items()]


def argv_for(registry: Registry, model_id: str, output_dir: Path) -> list[str]:
    """The ``kie generate`` arguments for one emulated image with ``model_id``, adding whatever it requires (and
    no prompt for a model that takes none)."""
    spec = registry.resolve(model_id).spec
    prompt = [PROMPT] if spec.live.for_common("prompt") is not None else []
    return ["generate", model_id, *prompt, "--emulator", "-o", str(output_dir), *required_options(spec, Profile.LIVE)]


def run(args: argparse.Namespace) -> int:
    out = Path(args.output_dir)
    registry = load_registry()
    for failure in registry.failures:
        print(f"demo: plugin {failure.plugin} failed to load: {failure.error}", file=sys.stderr)
    models = [entry.spec.id for entry in registry.models()]
    if not models:
        print("demo: no model plugins are installed", file=sys.stderr)
        return 1
    options = ["--debug"] if args.debug else []
    for model_id in models:
        print(f"demo: {model_id}", file=sys.stderr)
        code = kie([*options, *argv_for(registry, model_id, out / model_id.replace("/", "_"))])
        if code != 0:
            return code
    print(f"demo: look at them all with `kie gallery {shlex.quote(str(out))}`", file=sys.stderr)
    return 0
