"""``kie models``: what :mod:`kiecore.cli.models_listing` prints, served from a cache while nothing it depends on
has changed (:mod:`kiecore.cli.models_cache`), so listing the models does not import every plugin each time."""

from __future__ import annotations

import argparse
import os


def run(args: argparse.Namespace) -> int:
    from kiecore.cli import models_cache

    variant = models_cache.variant_of(args)
    if args.debug or variant is None:
        return _listing(args)
    return models_cache.run_cached(variant, os.environ, lambda: _listing(args))


def _listing(args: argparse.Namespace) -> int:
    from kiecore.cli import models_listing

    return models_listing.run(args)
