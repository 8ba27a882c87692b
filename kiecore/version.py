"""kiecore's version, and whether a version range admits it.

``version`` in pyproject.toml is the only place the version is written: :data:`__version__` reads it back from
the installed distribution's metadata (found by ``importlib_metadata``, read by :mod:`kiecore.distributions`). A
source checkout that is not installed has no metadata and reports :data:`UNKNOWN_VERSION`.

The range check (:func:`mismatch`) is what the plugin loader uses to refuse a plugin built for another kiecore.
It is a deliberately small subset of PEP 440, so that the core needs no ``packaging`` at run time: specifier
clauses ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=`` (the last two also as ``X.Y.*``) and ``~=`` on release
numbers ``X[.Y[.Z...]]``, joined by commas. Missing release parts count as zero (``0.1`` is ``0.1.0``). An
installed version's pre-, post- and dev-release suffix and local label are ignored, so a release candidate
counts as its release. Anything else raises :class:`ValueError`: the caller decides what an unreadable range
means.
"""

from __future__ import annotations

import enum
import re

import importlib_metadata

from kiecore.distributions import facts_of

#: The version of a kiecore that is imported from a source tree without being installed.
UNKNOWN_VERSION = "0+unknown"


def installed_version(distribution: str) -> str:
    """The version in ``distribution``'s installed metadata; :data:`UNKNOWN_VERSION` when it is not installed."""
    try:
        found = importlib_metadata.distribution(distribution)
    except importlib_metadata.PackageNotFoundError:
        return UNKNOWN_VERSION
    return facts_of(found).version or UNKNOWN_VERSION


__version__ = installed_version("kiecore")


class Mismatch(enum.Enum):
    """How a version falls outside a range."""

    TOO_OLD = "too old"  # below a lower bound (>=, >, ~=, ==)
    TOO_NEW = "too new"  # above an upper bound (<, <=, ~=, ==)
    EXCLUDED = "excluded"  # named by != inside the range


_RELEASE = r"\d+(?:\.\d+)*"
_CLAUSE = re.compile(rf"^\s*(~=|==|!=|<=|>=|<|>)\s*({_RELEASE})(\.\*)?\s*$")
_VERSION = re.compile(rf"^\s*v?({_RELEASE})(?:[-_.]?[a-z][a-z0-9.\-_]*)?(?:\+[a-z0-9.\-_]*)?\s*$", re.IGNORECASE)


def release(version: str) -> tuple[int, ...]:
    """The release numbers of an installed version: ``"0.2.0rc1"`` gives ``(0, 2, 0)``. ValueError if unreadable."""
    found = _VERSION.match(version)
    if found is None:
        raise ValueError(f"not a version this check reads: {version!r}")
    return tuple(int(part) for part in found.group(1).split("."))


def _compare(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    """-1, 0 or 1, padding the shorter release with zeros."""
    width = max(len(left), len(right))
    a, b = left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
    return (a > b) - (a < b)


def _prefix_compare(version: tuple[int, ...], prefix: tuple[int, ...]) -> int:
    """How ``version`` compares with the prefix of a ``==X.Y.*`` clause (0: it matches)."""
    return _compare((version + (0,) * len(prefix))[: len(prefix)], prefix)


def _clause_mismatch(
    operator: str, bound: tuple[int, ...], wildcard: bool, version: tuple[int, ...]
) -> Mismatch | None:
    if wildcard:
        if operator not in ("==", "!="):
            raise ValueError(f"'.*' goes only with == and !=, not {operator}")
        order = _prefix_compare(version, bound)
    else:
        order = _compare(version, bound)
    if operator == "~=":
        if len(bound) < 2:
            raise ValueError("~= needs at least two release numbers, e.g. ~=0.1")
        if order < 0:
            return Mismatch.TOO_OLD
        return None if _prefix_compare(version, bound[:-1]) == 0 else Mismatch.TOO_NEW
    if operator == "!=":
        return Mismatch.EXCLUDED if order == 0 else None
    admitted = {"==": order == 0, "<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[operator]
    if admitted:
        return None
    if operator in ("<", "<="):
        return Mismatch.TOO_NEW
    return Mismatch.TOO_OLD if operator in (">", ">=") or order < 0 else Mismatch.TOO_NEW


def mismatch(specifier: str, version: str) -> Mismatch | None:
    """``None`` when ``version`` meets every clause of ``specifier`` (e.g. ``">=0.1,<0.2"``), else how it misses
    the first clause it fails. An empty specifier admits everything. ValueError when either cannot be read."""
    found = release(version)
    if not specifier.strip():
        return None
    verdicts: list[Mismatch] = []
    for clause in specifier.split(","):
        parsed = _CLAUSE.match(clause)
        if parsed is None:
            raise ValueError(f"not a version clause this check reads: {clause.strip()!r} in {specifier!r}")
        operator, bound, wildcard = parsed.group(1), parsed.group(2), parsed.group(3) is not None
        verdict = _clause_mismatch(operator, tuple(int(part) for part in bound.split(".")), wildcard, found)
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts[0] if verdicts else None


def admits(specifier: str, version: str) -> bool:
    """Whether ``version`` meets ``specifier``; ValueError when either cannot be read."""
    return mismatch(specifier, version) is None


_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?=\s|$|[\[(<>=!~@;])"
    r"\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(?:;(?P<marker>.*))?$"
)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def required_range(requirement: str, distribution: str) -> str | None:
    """The version range a ``Requires-Dist`` line puts on ``distribution``, or ``None`` if it puts none.

    ``"kiecore<0.2,>=0.1"`` and ``"kiecore (>=0.1, <0.2)"`` give ``"<0.2,>=0.1"`` and ``">=0.1, <0.2"``. A line
    for another distribution, a URL requirement, and a line that applies only with an extra (its marker names
    ``extra``) give ``None``; other markers are not evaluated, so their range counts.
    """
    found = _REQUIREMENT.match(requirement)
    if found is None or _normalise(found.group("name")) != _normalise(distribution):
        return None
    marker = found.group("marker") or ""
    if re.search(r"\bextra\b", marker):
        return None
    spec = found.group("spec").strip()
    if spec.startswith("@"):
        return None
    if spec.startswith("(") and spec.endswith(")"):
        spec = spec[1:-1].strip()
    return spec or None
