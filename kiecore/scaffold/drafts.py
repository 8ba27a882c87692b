"""What a scaffolded plugin declares, as data: each parameter as the call that builds it, so the generated code
can be written from it and the declaration it makes can be checked (:meth:`ParamDraft.spec`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kiecore import stock
from kiecore.declarations import ModelSpec, ParamSpec

#: The stock builders a draft may call (``kiecore.stock.<name>``).
STOCK_BUILDERS = frozenset(stock.__all__) - {"market_wire", "reference_wire"}


def _keywords(value: Mapping[str, Any] | tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    return tuple(value.items()) if isinstance(value, Mapping) else tuple(value)


@attrs.frozen
class ParamDraft:
    """One parameter as generated code declares it: ``stock.<builder>(*args, **keywords)``, or with no builder
    ``ParamSpec(**keywords)``. Keywords keep their order (the generated code's)."""

    builder: str | None
    args: tuple[Any, ...] = ()
    keywords: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_keywords)

    def __attrs_post_init__(self) -> None:
        if self.builder is not None and self.builder not in STOCK_BUILDERS:
            raise ValueError(f"no stock builder {self.builder!r}")
        if self.builder is None and self.args:
            raise ValueError("ParamSpec takes keywords only")

    def spec(self) -> ParamSpec:
        """The declaration this call makes."""
        if self.builder is None:
            return ParamSpec(**dict(self.keywords))
        built: ParamSpec = getattr(stock, self.builder)(*self.args, **dict(self.keywords))
        return built


@attrs.frozen(kw_only=True)
class ModelDraft:
    """One market model as the scaffold declares it (on Kie's jobs API, live profile only).

    ``note`` is a comment written above the declaration; ``left_out`` names the input fields the scaffold could
    not declare, each with why (``"image_size: an object"``), written as comments for the author to finish.
    """

    id: str
    title: str
    family: str
    params: tuple[ParamDraft, ...]
    max_images: int = 1
    typical_seconds: float = 30.0
    description: str = ""
    note: str = ""
    left_out: tuple[str, ...] = ()

    def spec(self) -> ModelSpec:
        """The declaration the generated code makes."""
        return ModelSpec(
            id=self.id,
            title=self.title,
            family=self.family,
            live=stock.market_wire(self.id, *(param.spec() for param in self.params)),
            typical_seconds=self.typical_seconds,
            max_images=self.max_images,
            description=self.description,
        )


#: The model ``kie plugin new NAME`` declares without ``--from-openapi``.
EXAMPLE_MODEL = ModelDraft(
    id="wan/2-7-image",
    title="Wan 2.7 Image",
    family="Wan",
    params=(ParamDraft("prompt"),),
    description="Wan 2.7 Image (an example declaration: edit it)",
    note=(
        "An example to edit: only the prompt is declared. Add every input field of the model's docs page "
        "(stock.image_urls, stock.aspect_ratio, stock.resolution, ... or ParamSpec) with its limits and "
        "defaults, its typical run time, and price=Price(...) where the page states one."
    ),
)
