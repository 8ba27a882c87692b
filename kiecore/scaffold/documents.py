"""Reading an OpenAPI document from a file: JSON, YAML, or a Markdown page holding one in a fenced code block.

JSON is read with the standard library. YAML needs PyYAML (the ``openapi`` extra), imported here only when a file
is YAML, so nothing else in kiecore depends on it.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

from kiecore.scaffold.errors import ScaffoldError

NEEDS_PYYAML = "reading YAML needs PyYAML: pip install 'kiecore[openapi]'"

#: A fenced code block of a Markdown page: its fence (``` or ~~~, three or more) and its text.
_FENCED = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<body>.*?)^ {0,3}(?P=fence)[`~]*[ \t]*$", re.M | re.S)
#: What a block holding an OpenAPI document has: a YAML ``openapi:`` line, or JSON's ``"openapi":`` key.
_HOLDS_OPENAPI = re.compile(r"""^\s*['"]?openapi['"]?\s*:|"openapi"\s*:""", re.MULTILINE)
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")


def read_document(path: Path) -> dict[str, Any]:
    """The OpenAPI document in ``path``, as a JSON object. A Markdown page (a ``.md`` file, or any file with a
    fenced code block that is neither JSON nor YAML by name) gives the first fenced block holding ``openapi:``.
    :class:`ScaffoldError` with one line when the file cannot be read or holds no document."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ScaffoldError(f"cannot read {path}: {reason}") from None
    suffix = path.suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES or (suffix not in (".json", ".yaml", ".yml") and _FENCED.search(text)):
        text = _openapi_block(text, path)
    document = _parse(text, path)
    if not isinstance(document, dict):
        raise ScaffoldError(f"{path} holds no OpenAPI document (not a mapping)")
    if "openapi" not in document:
        raise ScaffoldError(f"{path} is not an OpenAPI document: no openapi: version")
    version = str(document["openapi"])
    if not version.startswith("3."):
        raise ScaffoldError(f"{path} is OpenAPI {version}; kie plugin new reads OpenAPI 3.0 documents")
    return document


def _openapi_block(text: str, path: Path) -> str:
    for block in _FENCED.finditer(text):
        if _HOLDS_OPENAPI.search(block.group("body")):
            return block.group("body")
    raise ScaffoldError(f"no fenced code block holding openapi: in {path}")


def _parse(text: str, path: Path) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ScaffoldError(f"{path} is not valid JSON: {error.msg} at line {error.lineno}") from None
    return _parse_yaml(text, path)


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise ScaffoldError(NEEDS_PYYAML) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ScaffoldError(f"{path} is not valid YAML: {problem}{where}") from None
