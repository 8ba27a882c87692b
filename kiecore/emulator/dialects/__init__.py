"""The emulator's half of each wire dialect, one module each, beside the client's half in
:mod:`kiecore.dialects`. :func:`emulation_of` finds the one a dialect names."""

from kiecore.emulator.dialects.base import Clock, EmulatedDialect, emulation_of, envelope

__all__ = ["Clock", "EmulatedDialect", "emulation_of", "envelope"]
