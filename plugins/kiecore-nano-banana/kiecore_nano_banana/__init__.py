"""Nano Banana for kiecore: Google's Gemini Flash image models, text-to-image and image editing.

Live, all four are market models (``/api/v1/jobs/createTask`` with ``input:{...}``, state words,
``resultJson``): ``google/nano-banana`` and its edit variant (``image_urls``, required), and Nano Banana 2
(``nano-banana-2``) and 2.1 (``nano-banana-2-1``), which take text and optional reference images
(``image_input``) in one model, with 1K/2K/4K resolutions and a ``jpg`` default. The reference describes only
``google/nano-banana``, on the same paths, as flat ``{prompt, output_format, image_size}`` with its generic
``status``/``imageUrl`` replies and no callback.
"""

from __future__ import annotations

from kiecore import BodyLayout, DeclarativePlugin, Dialect, ModelSpec, ParamSpec, Price, WireSpec, stock

__all__ = [
    "MODELS",
    "NANO_BANANA",
    "NANO_BANANA_2",
    "NANO_BANANA_2_1",
    "NANO_BANANA_2_RATIOS",
    "NANO_BANANA_EDIT",
    "RATIOS",
    "nano_banana_2",
    "plugin",
]

RATIOS = ("1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto")

PROMPT = stock.prompt(5000)
OUTPUT_FORMAT = stock.output_format("png", "jpeg", default="png")
SIZE_OPTIONS = (
    OUTPUT_FORMAT,
    # The size key is contested (docs/kie-api-notes.md §7): older pages call it image_size, the 2026-08 pages
    # call it aspect_ratio (same values) and mark image_size deprecated. Those 2026-08 pages are the newest
    # description of the live service, and a deprecated field is the one that may stop working, so the common
    # aspect ratio goes to aspect_ratio. image_size stays declared for -p image_size=... on a service that
    # still wants it. Neither is sent unless asked for (both default to 1:1 at the service), so a plain request
    # never depends on which key the service takes. The docs do not say what happens if both are sent.
    stock.aspect_ratio(
        *RATIOS, default="1:1", description="Aspect ratio of the output (service default 1:1); the 2026-08 key"
    ),
    ParamSpec(
        name="image_size",
        description="Aspect ratio under its older, deprecated key; use instead of aspect_ratio if the service wants it",
        default="1:1",
        choices=RATIOS,
    ),
)
# Only text-to-image: the edit model's schema has no nsfw_checker (autumn-2026 docs).
NSFW_CHECKER = stock.flag("nsfw_checker", "Turn the service's NSFW filter on")

NANO_BANANA = ModelSpec(
    id="google/nano-banana",
    title="Nano Banana",
    family="Nano Banana",
    live=stock.market_wire("google/nano-banana", PROMPT, *SIZE_OPTIONS, NSFW_CHECKER),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=stock.MARKET_SUBMIT_PATH,
        status_path=stock.MARKET_STATUS_PATH,
        layout=BodyLayout.FLAT,  # the reference shows no input wrapper
        model_field="google/nano-banana",
        callback_field=None,
        params=(stock.prompt(), OUTPUT_FORMAT, stock.aspect_ratio(*RATIOS, name="image_size", default="1:1")),
    ),
    aliases=("nano-banana",),
    typical_seconds=10.0,  # costTime 9000 ms in the docs' success example
    max_images=1,
    description="Google's Nano Banana (Gemini 2.5 Flash Image): fast text-to-image in many aspect ratios",
    # The edit variant's page states no price of its own, so it declares none.
    price=Price(credits=4, source="docs.kie.ai, the google/nano-banana market page; docs/kie-api-notes.md §8"),
)

NANO_BANANA_EDIT = ModelSpec(
    id="google/nano-banana-edit",
    title="Nano Banana Edit",
    family="Nano Banana",
    live=stock.market_wire(
        "google/nano-banana-edit",
        PROMPT,
        stock.image_urls(
            "Images to edit (1-10 URLs or local files; jpeg/png/webp, 10 MB each)",
            10,
            required=True,
            max_file_bytes=10 * 1024 * 1024,
        ),
        *SIZE_OPTIONS,
    ),
    aliases=("nano-banana-edit",),
    typical_seconds=12.0,  # no example of its own; a little slower than text-to-image
    max_images=1,
    description="Google's Nano Banana edit: changes or combines up to 10 input images as the prompt says",
)

# -- Nano Banana 2 and 2.1: one body, differing only in how many reference images they take ------------------

NANO_BANANA_2_RATIOS = (
    "1:1", "2:3", "3:2", "1:4", "4:1", "3:4", "4:3", "4:5", "5:4", "1:8", "8:1", "9:16", "16:9", "21:9", "auto",
)  # fmt: skip
#: The parameters both share after the prompt and the reference images; defaults are the service's, not sent.
NANO_BANANA_2_OPTIONS = (
    stock.aspect_ratio(*NANO_BANANA_2_RATIOS, default="auto"),
    stock.resolution("1K", "2K", "4K", default="1K"),
    stock.output_format("png", "jpg", default="jpg"),
)


def nano_banana_2(
    model_id: str,
    *,
    title: str,
    max_inputs: int,
    aliases: tuple[str, ...],
    description: str,
    price: Price | None,
) -> ModelSpec:
    """A Nano Banana 2 model: a prompt of at most 20000 characters, optional reference images (``image_input``,
    at most ``max_inputs`` of 30 MB each) and :data:`NANO_BANANA_2_OPTIONS`, one image per task."""
    return ModelSpec(
        id=model_id,
        title=title,
        family="Nano Banana",
        live=stock.market_wire(
            model_id,
            stock.prompt(20000),
            stock.image_urls(
                f"Reference images, optional (at most {max_inputs} URLs or local files, 30 MB each)",
                max_inputs,
                name="image_input",
                max_file_bytes=30 * 1024 * 1024,
            ),
            *NANO_BANANA_2_OPTIONS,
        ),
        aliases=aliases,
        # The docs give no costTime for either; a guess between Nano Banana (9 s) and Pro (41 s). The engine
        # learns the real figure.
        typical_seconds=30.0,
        max_images=1,
        description=description,
        price=price,
    )


NANO_BANANA_2 = nano_banana_2(
    "nano-banana-2",
    title="Nano Banana 2",
    max_inputs=14,
    aliases=("nb2", "google/nano-banana-2"),
    description="Google's Nano Banana 2: text-to-image and image-to-image up to 4K, up to 14 reference images",
    price=Price(
        by="resolution",
        by_value={"1K": 8, "2K": 12, "4K": 18},
        source="docs.kie.ai, the nano-banana-2 market page (autumn 2026)",
    ),
)

NANO_BANANA_2_1 = nano_banana_2(
    "nano-banana-2-1",
    title="Nano Banana 2.1",
    max_inputs=10,
    aliases=("nano-banana-2.1", "nb2.1", "google/nano-banana-2-1"),
    description="Google's Nano Banana 2.1: Nano Banana 2's body with up to 10 reference images",
    # Declared, not left out: the docs state a price, if only one source and roughly ("about $0.02 at 1K"),
    # which at 1 credit ≈ $0.005 is 4 credits, the same step as google/nano-banana's stated 4 credits =
    # $0.02. 2K and 4K are left out, so they have no estimate rather than a guessed one; the source says how
    # soft the 1K figure is.
    price=Price(
        by="resolution",
        by_value={"1K": 4},
        source="one source only, approximate: about $0.02 (≈ 4 credits) at 1K; 2K and 4K not stated",
    ),
)

MODELS = (NANO_BANANA, NANO_BANANA_EDIT, NANO_BANANA_2, NANO_BANANA_2_1)

plugin = DeclarativePlugin(*MODELS)
