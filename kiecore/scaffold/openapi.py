"""A market model's OpenAPI document (its docs page on docs.kie.ai) read into a :class:`ModelDraft`.

What is read is the create request's schema, ``paths["/api/v1/jobs/createTask"].post.requestBody.content[
"application/json"].schema``: ``properties.model`` (its ``enum[0]`` or ``default`` is the model id) and
``properties.input`` (``required`` and ``properties``). Each input field becomes one parameter:

- ``prompt``, ``negative_prompt``, ``aspect_ratio``, ``resolution``, ``output_format``, ``seed`` and
  ``num_images`` map onto the common parameters, through the stock builder where it fits (it takes every limit
  the schema gives; ``stock.output_format`` keeps its own description, for the jpeg/jpg mapping it adds), else
  as a ``ParamSpec`` with ``common`` set; so does the model's image input (``image_urls``, else the first list
  of image URLs, else the first single image URL);
- otherwise by type: a string (``enum`` -> choices, ``default``, ``minLength``, ``maxLength``), ``format:
  uri`` (or a name ending in ``url``) -> URL, integer/number (``minimum``/``maximum``, ``enum``), boolean, an
  array of strings that are URIs or named ``*url*``/``image_input`` -> URL list (``maxItems``);
- anything else (an object, a list of other things) is left out, named in the draft for the author to finish.

``required`` marks required parameters; keys starting with ``x-`` are ignored; a local ``$ref`` is followed. A
model with no ``prompt`` field declares no prompt parameter (e.g. an upscaler). Descriptions are the first
sentence of the field's ``description``; limits come from the schema, never from description prose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs

from kiecore.declarations import ParamKind
from kiecore.scaffold.drafts import ModelDraft, ParamDraft
from kiecore.scaffold.errors import ScaffoldError

CREATE_PATH = "/api/v1/jobs/createTask"
_SCHEMA_PATH = ("paths", CREATE_PATH, "post", "requestBody", "content", "application/json", "schema")

#: The longest description written (longer first sentences are cut at a word, with "...").
MAX_DESCRIPTION = 96

_TYPES = {"string", "integer", "number", "boolean", "array", "object"}
_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def read_model(document: Mapping[str, Any], *, source: str, family: str) -> ModelDraft:
    """The model ``document`` (an OpenAPI 3.0 document read from ``source``, named in messages) describes, in
    ``family``. :class:`ScaffoldError` naming what is missing or malformed."""
    operation, schema = _create_schema(document, source)
    if "properties" not in schema:
        raise ScaffoldError(f"no properties in the createTask request schema in {source} (model and input)")
    properties = _mapping(_resolved(document, schema["properties"], source), f"{source}: the request's properties")
    model_id = _model_id(document, properties.get("model"), source)
    if "input" not in properties:
        raise ScaffoldError(f"no input in the createTask request schema in {source} (properties.input)")
    input_schema = _mapping(_resolved(document, properties["input"], source), f"{source}: properties.input")
    fields = _resolved(document, input_schema.get("properties"), source)
    if not isinstance(fields, Mapping) or not fields:
        raise ScaffoldError(f"no input fields in the createTask request schema in {source} (input.properties)")
    required = input_schema.get("required") or []
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise ScaffoldError(f"{source}: input.required is not a list of field names")
    read = [
        _field(str(name), _resolved(document, value, source), str(name) in required, source)
        for name, value in fields.items()
        if not str(name).startswith("x-")
    ]
    image_input = _image_input(read)
    params: list[ParamDraft] = []
    left_out: list[str] = []
    for field in read:
        drafted = _draft(field, image_input=field.name == image_input)
        if isinstance(drafted, str):
            left_out.append(f"{field.name}: {drafted}")
        else:
            params.append(drafted)
    count = next((field for field in read if field.name == "num_images"), None)
    return ModelDraft(
        id=model_id,
        title=title_of(model_id),
        family=family,
        params=tuple(params),
        max_images=_max_images(count),
        description=_model_description(document, operation, schema),
        left_out=tuple(left_out),
    )


def title_of(model_id: str) -> str:
    """A model's title from its id: ``wan/2-7-image`` gives ``Wan 2.7 Image``, ``topaz/image-upscale`` ``Topaz
    Image Upscale``."""
    text = re.sub(r"(?<=\d)-(?=\d)", ".", model_id)
    words = [word for word in re.split(r"[/_\-\s]+", text) if word]
    return " ".join(word[:1].upper() + word[1:] for word in words)


# -- the schema ------------------------------------------------------------------------------------------------


def _create_schema(document: Mapping[str, Any], source: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The create operation (``post``) and its request body's schema."""
    node: Any = document
    operation: Mapping[str, Any] = {}
    for key in _SCHEMA_PATH:
        node = _resolved(document, node, source)
        if not isinstance(node, Mapping) or key not in node:
            raise ScaffoldError(f"no createTask request schema in {source} (no {key} under {_where(key)})")
        if key == "requestBody":
            operation = node
        node = node[key]
    return operation, _mapping(_resolved(document, node, source), f"{source}: the createTask request schema")


def _where(key: str) -> str:
    index = _SCHEMA_PATH.index(key)
    return ".".join(_SCHEMA_PATH[:index]) or "the document"


def _resolved(document: Mapping[str, Any], node: Any, source: str) -> Any:
    """``node``, or what its local ``$ref`` (``#/components/schemas/...``) points to, followed to the end."""
    for _ in range(32):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        reference = node["$ref"]
        if not reference.startswith("#/"):
            raise ScaffoldError(f"{source}: only references inside the document are read, not {reference}")
        target: Any = document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise ScaffoldError(f"{source}: {reference} points to nothing")
            target = target[part]
        node = target
    raise ScaffoldError(f"{source}: $ref points around in a circle")


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScaffoldError(f"{what} is not a mapping")
    return value


def _model_id(document: Mapping[str, Any], schema: Any, source: str) -> str:
    model = _resolved(document, schema, source)
    candidates: list[Any] = []
    if isinstance(model, Mapping):
        enum = model.get("enum")
        if isinstance(enum, list) and enum:
            candidates.append(enum[0])
        candidates.append(model.get("default"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    raise ScaffoldError(f"no model id in the createTask request schema in {source} (properties.model: enum or default)")


def _model_description(document: Mapping[str, Any], operation: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    info = document.get("info")
    for text in (
        operation.get("summary"),
        operation.get("description"),
        schema.get("description"),
        info.get("description") if isinstance(info, Mapping) else None,
    ):
        sentence = first_sentence(text)
        if sentence:
            return sentence
    return ""


# -- one field ---------------------------------------------------------------------------------------------------


@attrs.frozen
class _Field:
    """One input field of the schema, its facts checked and typed."""

    name: str
    type: str | None
    required: bool
    description: str
    format: str | None = None
    enum: tuple[Any, ...] = ()
    default: Any = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_items: int | None = None
    items_type: str | None = None
    items_format: str | None = None

    @property
    def is_url(self) -> bool:
        return self.type == "string" and (self.format == "uri" or self.name.lower().endswith("url"))

    @property
    def is_url_list(self) -> bool:
        lowered = self.name.lower()
        named = "url" in lowered or lowered == "image_input"
        return self.type == "array" and self.items_type == "string" and (self.items_format == "uri" or named)


def _field(name: str, schema: Any, required: bool, source: str) -> _Field:
    where = f"{source}: input.{name}"
    schema = _mapping(schema, where)
    kind = _type_of(schema, where)
    items = schema.get("items")
    items_type = items_format = None
    if kind == "array" and isinstance(items, Mapping):
        items_type = _type_of(items, f"{where}.items")
        items_format = items.get("format") if isinstance(items.get("format"), str) else None
    enum = schema.get("enum")
    if enum is not None and not isinstance(enum, list):
        raise ScaffoldError(f"{where}: enum is not a list")
    values = tuple(_typed(kind, value, where, "an enum value") for value in enum or ())
    default = schema.get("default")
    if default is not None and kind != "array":
        default = _typed(kind, default, where, "its default")
        if values and default not in values:
            raise ScaffoldError(f"{where}: its default {default!r} is not one of its enum values")
    elif kind == "array":
        default = None  # a list default (usually []) means "none given": nothing to send
    return _Field(
        name=name,
        type=kind,
        required=required,
        description=first_sentence(schema.get("description")),
        format=schema.get("format") if isinstance(schema.get("format"), str) else None,
        enum=values,
        default=default,
        min_length=_count(schema, "minLength", where),
        max_length=_count(schema, "maxLength", where),
        minimum=_number(schema, "minimum", where),
        maximum=_number(schema, "maximum", where),
        max_items=_count(schema, "maxItems", where),
        items_type=items_type,
        items_format=items_format,
    )


def _type_of(schema: Mapping[str, Any], where: str) -> str | None:
    """The field's type; OpenAPI 3.1's ``[type, "null"]`` counts as the type. ``None`` when the schema gives
    none (a ``oneOf``, say) and neither ``enum`` nor ``format`` says it."""
    kind = schema.get("type")
    if isinstance(kind, list):
        named = [item for item in kind if item != "null"]
        kind = named[0] if len(named) == 1 else None
    if kind is None:
        if isinstance(schema.get("format"), str):
            return "string"
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(value, str) for value in enum):
            return "string"
        return None
    if kind not in _TYPES:
        raise ScaffoldError(f"{where}: unknown type {kind!r}")
    return str(kind)


def _typed(kind: str | None, value: Any, where: str, what: str) -> Any:
    """``value`` as the field's type says (the schema wins: a string field's ``1`` is ``"1"``)."""
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    expected: type | tuple[type, ...] | None = _PYTHON_TYPES.get(kind or "")
    if expected is None:
        return value
    if not isinstance(value, expected) or (kind in ("integer", "number") and isinstance(value, bool)):
        raise ScaffoldError(f"{where}: {what} {value!r} is not {'an' if kind == 'integer' else 'a'} {kind}")
    return value


def _count(schema: Mapping[str, Any], key: str, where: str) -> int | None:
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScaffoldError(f"{where}: {key} is not a whole number")
    return value


def _number(schema: Mapping[str, Any], key: str, where: str) -> int | float | None:
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScaffoldError(f"{where}: {key} is not a number")
    return value


def _image_input(fields: list[_Field]) -> str | None:
    """The field the common ``image_urls`` (``--image``) maps to: ``image_urls``, else the first list of image
    URLs, else the first list of URLs, else the first single image URL."""
    lists = [field for field in fields if field.is_url_list]
    singles = [field for field in fields if field.is_url and "image" in field.name.lower()]
    ranked = [
        *(field for field in lists if field.name == "image_urls"),
        *(field for field in lists if "image" in field.name.lower()),
        *lists,
        *singles,
    ]
    return ranked[0].name if ranked else None


def _max_images(count: _Field | None) -> int:
    if count is None:
        return 1
    if count.enum:
        return max([1, *(int(value) for value in count.enum if str(value).isdigit())])
    return max(1, int(count.maximum)) if count.maximum is not None else 1


# -- a field as a parameter ------------------------------------------------------------------------------------


def _draft(field: _Field, *, image_input: bool) -> ParamDraft | str:
    """The parameter declaring ``field``, or why it cannot be declared."""
    if image_input:
        return _image_draft(field)
    common = _common_draft(field)
    if common is not None:
        return common
    if field.type == "boolean":
        if field.required:
            return _spec(field, kind=ParamKind.BOOLEAN)
        return ParamDraft("flag", (field.name, field.description or field.name), _some(default=field.default))
    if field.is_url:
        return _spec(field, kind=ParamKind.URL)
    if field.is_url_list:
        return _spec(field, kind=ParamKind.URL_LIST)
    if field.type == "string":
        if field.enum and not field.required and all(isinstance(value, str) for value in field.enum):
            keywords = _some(default=field.default, description=field.description)
            return ParamDraft("choice", (field.name, field.enum), keywords)
        return _spec(field)
    if field.type in ("integer", "number"):
        return _spec(field, kind=ParamKind.INTEGER if field.type == "integer" else ParamKind.NUMBER)
    if field.type == "array":
        return f"a list of {field.items_type or 'values'}s, which kiecore has no parameter kind for"
    if field.type == "object":
        return "an object, which kiecore has no parameter kind for"
    return "no type kiecore can declare (the schema names none)"


def _common_draft(field: _Field) -> ParamDraft | None:
    """The declaration of a field whose name is a common parameter's, with its stock builder where that says all
    the schema does; ``None`` for any other field (or a common name of another type)."""
    name, kind = field.name, field.type
    text = kind == "string" and not field.is_url
    if name == "prompt" and text:
        keywords = _some(
            required=False if not field.required else None,
            description=field.description,
            min_length=field.min_length or None,
        )
        return ParamDraft("prompt", _args(field.max_length), keywords)
    if name == "negative_prompt" and text:
        if field.required or field.default is not None or field.min_length:
            return _spec(field, common="negative_prompt")
        return ParamDraft("negative_prompt", _args(field.max_length), _some(description=field.description))
    if name == "aspect_ratio" and text:
        keywords = _some(default=field.default, required=field.required or None, description=field.description)
        return ParamDraft("aspect_ratio", field.enum, keywords)
    if name == "resolution" and text:
        if field.enum and field.default is not None and not field.required:
            return ParamDraft("resolution", field.enum, _some(default=field.default, description=field.description))
        return _spec(field, common="resolution")
    if name == "output_format" and text:
        if field.enum and field.default is not None and not field.required:  # its own words, and jpeg = jpg
            return ParamDraft("output_format", field.enum, {"default": field.default})
        return _spec(field, common="output_format")
    if name == "seed" and kind == "integer":
        plain = field.minimum is None and field.maximum is None and field.default is None and not field.required
        if plain and not field.enum:
            return ParamDraft("seed", (), _some(description=field.description))
        return _spec(field, kind=ParamKind.INTEGER, common="seed")
    if name == "num_images" and kind in ("integer", "string"):
        return _count_draft(field)
    return None


def _count_draft(field: _Field) -> ParamDraft | None:
    """``num_images``: ``stock.image_count`` for ``1..maximum`` or a list of counts (sent as text for a string
    field); a count the builder cannot say is a ``ParamSpec``."""
    description = _some(description=field.description)
    if field.type == "string":
        if not field.enum or not all(str(value).isdigit() for value in field.enum):
            return None  # a string that is no count: declared by its type
        choices = tuple(int(value) for value in field.enum)
        default = int(field.default) if field.default is not None else None
        return ParamDraft("image_count", (), {"choices": choices, "default": default, **description, "as_string": True})
    if field.required or (field.minimum is not None and field.minimum != 1):
        return _spec(field, kind=ParamKind.INTEGER, common="num_images")
    if field.enum:
        return ParamDraft("image_count", (), {"choices": field.enum, "default": field.default, **description})
    if field.maximum is not None:
        return ParamDraft("image_count", (int(field.maximum),), {"default": field.default, **description})
    return _spec(field, kind=ParamKind.INTEGER, common="num_images")


def _image_draft(field: _Field) -> ParamDraft:
    """The model's image input, mapped from the common ``image_urls`` (``--image``)."""
    if field.is_url_list:
        keywords = _some(name=None if field.name == "image_urls" else field.name, required=field.required or None)
        return ParamDraft("image_urls", _args(field.description or "Input images", field.max_items), keywords)
    return _spec(field, kind=ParamKind.URL, common="image_urls")


def _spec(field: _Field, *, kind: ParamKind = ParamKind.STRING, common: str | None = None) -> ParamDraft:
    """``ParamSpec(...)`` with every fact of ``field`` its kind takes."""
    numeric = kind in (ParamKind.INTEGER, ParamKind.NUMBER)
    keywords = _some(
        name=field.name,
        kind=None if kind is ParamKind.STRING else kind,
        common=common,
        description=field.description,
        required=field.required or None,
        default=field.default,
        choices=field.enum,
        minimum=field.minimum if numeric else None,
        maximum=field.maximum if numeric else None,
        min_length=(field.min_length or None) if kind is ParamKind.STRING else None,
        max_length=field.max_length if kind is ParamKind.STRING else None,
        max_items=field.max_items if kind is ParamKind.URL_LIST else None,
    )
    return ParamDraft(None, (), keywords)


def _some(**keywords: Any) -> dict[str, Any]:
    """The keywords that say something (not ``None``, ``""`` or ``()``), in order."""
    return {key: value for key, value in keywords.items() if value is not None and value != "" and value != ()}


def _args(*values: Any) -> tuple[Any, ...]:
    """Positional arguments without the trailing ones left unset."""
    found = list(values)
    while found and found[-1] is None:
        found.pop()
    return tuple(found)


# -- descriptions ------------------------------------------------------------------------------------------------

#: Quotes, dashes and the multiplication sign of docs pages, as the generated code writes them (plain ASCII).
_PLAIN = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u00d7": "x"}
)
_ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "approx")


def first_sentence(description: Any) -> str:
    """The first sentence of a description, on one line, without its full stop, at most :data:`MAX_DESCRIPTION`
    characters (cut at a word, with ``...``); ``""`` for no text."""
    if not isinstance(description, str):
        return ""
    text = unicodedata.normalize("NFKC", description).translate(_PLAIN)
    text = re.split(r"\n\s*\n|\n\s*[-*+]\s|\n\s*\d+\.\s", text.strip(), maxsplit=1)[0]
    text = " ".join("".join(char for char in text if char.isprintable() or char.isspace()).split())
    text = text.replace("**", "").replace("__", "")
    for end in re.finditer(r"[.!?](?=\s|$)", text):
        before = text[: end.start()]
        if not before.lower().endswith(_ABBREVIATIONS):
            text = before if end.group() == "." else text[: end.end()]
            break
    text = text.strip().rstrip(":;,").strip()
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return text
