"""The one error the scaffold raises."""

from __future__ import annotations

from kiecore.errors import UsageError


class ScaffoldError(UsageError):
    """A plugin that cannot be scaffolded as asked (a bad name, a taken folder, an unreadable or incomplete
    OpenAPI document). ``str(error)`` is one line naming what is wrong; ``kie`` exits with code 2."""
