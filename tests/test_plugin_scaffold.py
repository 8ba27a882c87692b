"""`kie plugin new` (kiecore/scaffold/): OpenAPI documents in the shape of Kie's docs pages read into declarations,
the distribution it writes, which passes its own tests as generated, and the command's refusals."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiecore.cli import main
from kiecore.declarations import ParamKind, ParamSpec
from kiecore.scaffold import ScaffoldError, kiecore_range, new_plugin, plan
from kiecore.scaffold.documents import NEEDS_PYYAML, read_document
from kiecore.scaffold.names import PluginNames
from kiecore.scaffold.openapi import first_sentence, read_model, title_of
from kiecore.scaffold.render import python_string

# -- documents in the docs' shape ------------------------------------------------------------------------------

PROMPT_MODEL = """\
openapi: 3.0.1
info:
  title: Demo Image API
  version: 1.0.0
x-mint: {metadata: {title: Demo}}
paths:
  /api/v1/jobs/createTask:
    post:
      summary: Generate images with demo/text-to-image from a prompt. It is fast.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [model, input]
              properties:
                model:
                  type: string
                  enum: [demo/text-to-image]
                  default: demo/text-to-image
                  description: The model to use.
                callBackUrl:
                  type: string
                  format: uri
                  description: Where to POST the result.
                input:
                  type: object
                  required: [prompt, aspect_ratio, quality]
                  properties:
                    prompt:
                      type: string
                      minLength: 3
                      maxLength: 5000
                      description: |
                        The text prompt, e.g. a fox in the snow. Max length: 5000 characters.
                    negative_prompt: {type: string, maxLength: 500, description: What to leave out.}
                    image_input:
                      type: array
                      items: {type: string, format: uri}
                      maxItems: 4
                      description: Reference images (up to 10 images, 10 MB each).
                    aspect_ratio:
                      type: string
                      enum: ["1:1", "16:9", "9:16"]
                      default: "1:1"
                      description: Aspect ratio of the image.
                    quality: {type: string, enum: [basic, high], description: "basic (2K) or high (4K)."}
                    resolution: {type: string, enum: [1K, 2K], default: 1K}
                    output_format: {type: string, enum: [png, jpg], default: png}
                    num_images: {type: integer, minimum: 1, maximum: 4, default: 1, description: How many.}
                    seed: {type: integer, minimum: 0, maximum: 2147483647, description: Random seed.}
                    guidance_scale: {type: number, minimum: 1, maximum: 20, default: 7.5}
                    nsfw_checker: {type: boolean, description: "Turn the NSFW filter on \u2014 or off."}
                    style: {type: string, enum: [photo, anime]}
                    mask_url: {type: string, format: uri, description: A mask.}
                    size: {type: object, properties: {width: {type: integer}}}
                    x-internal: {type: string}
      responses:
        "200":
          description: Request successful
          content:
            application/json:
              example: {code: 200, msg: success, data: {taskId: task_demo_1}}
"""

UPSCALER_PAGE = """\
# Topaz Image Upscale

Upscale an image. Call it like this:

```bash
curl -X POST https://api.kie.ai/api/v1/jobs/createTask -d '{"model": "topaz/image-upscale"}'
```

## OpenAPI

````yaml
openapi: 3.0.1
info: {title: Topaz Image Upscale, version: 1.0.0}
paths:
  /api/v1/jobs/createTask:
    post:
      summary: Upscale an image with Topaz.
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateTask'
components:
  schemas:
    CreateTask:
      type: object
      properties:
        model: {type: string, enum: [topaz/image-upscale], x-playground: true}
        input:
          type: object
          required: [image_url, upscale_factor]
          properties:
            image_url:
              type: string
              description: URL of the image to upscale. At most 10 MB.
            upscale_factor:
              type: string
              enum: ["1", "2", "4"]
              default: "2"
              description: How many times larger. Pick 1, 2 or 4.
````
"""


def _prompt_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PROMPT_MODEL)
    return document


def _specs(path: Path, family: str = "Demo") -> dict[str, ParamSpec]:
    draft = read_model(read_document(path), source=str(path), family=family)
    return {param.name: param for param in draft.spec().live.params}


@pytest.fixture
def prompt_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(PROMPT_MODEL)
    return path


@pytest.fixture
def upscaler_page(tmp_path: Path) -> Path:
    path = tmp_path / "topaz-image-upscale.md"
    path.write_text(UPSCALER_PAGE)
    return path


# -- reading documents into declarations -----------------------------------------------------------------------


def test_a_prompt_model_maps_its_fields_onto_stock_and_common_parameters(prompt_yaml: Path) -> None:
    draft = read_model(read_document(prompt_yaml), source="demo.yaml", family="Demo")
    assert (draft.id, draft.title, draft.family, draft.max_images) == (
        "demo/text-to-image",
        "Demo Text To Image",
        "Demo",
        4,
    )
    assert draft.description == "Generate images with demo/text-to-image from a prompt"
    builders = {param.spec().name: param.builder for param in draft.params}
    assert builders == {
        "prompt": "prompt",
        "negative_prompt": "negative_prompt",
        "image_input": "image_urls",
        "aspect_ratio": "aspect_ratio",
        "quality": None,  # required: a ParamSpec, not stock.choice
        "resolution": "resolution",
        "output_format": "output_format",
        "num_images": "image_count",
        "seed": None,  # bounded: stock.seed declares no limits
        "guidance_scale": None,
        "nsfw_checker": "flag",
        "style": "choice",
        "mask_url": None,
    }
    params = {param.name: param for param in draft.spec().live.params}
    assert params["prompt"] == ParamSpec(
        name="prompt",
        common="prompt",
        required=True,
        min_length=3,
        max_length=5000,
        description="The text prompt, e.g. a fox in the snow",
    )
    assert (params["negative_prompt"].common, params["negative_prompt"].max_length) == ("negative_prompt", 500)
    images = params["image_input"]
    assert (images.kind, images.common, images.max_items, images.required) == (
        ParamKind.URL_LIST,
        "image_urls",
        4,
        False,
    )
    assert images.description == "Reference images (up to 10 images, 10 MB each)"  # prose kept, the schema's 4 wins
    ratio = params["aspect_ratio"]
    assert (ratio.choices, ratio.default, ratio.required, ratio.common) == (
        ("1:1", "16:9", "9:16"),
        "1:1",
        True,
        "aspect_ratio",
    )
    quality = params["quality"]
    assert (quality.choices, quality.required, quality.description) == (
        ("basic", "high"),
        True,
        "basic (2K) or high (4K)",
    )
    assert (params["resolution"].choices, params["resolution"].default) == (("1K", "2K"), "1K")
    assert params["output_format"].value_map == {"jpeg": "jpg"}
    count = params["num_images"]
    assert (count.kind, count.common, count.minimum, count.maximum, count.default) == (
        ParamKind.INTEGER,
        "num_images",
        1,
        4,
        1,
    )
    seed = params["seed"]
    assert (seed.kind, seed.common, seed.minimum, seed.maximum) == (ParamKind.INTEGER, "seed", 0, 2147483647)
    guidance = params["guidance_scale"]
    assert (guidance.kind, guidance.minimum, guidance.maximum, guidance.default) == (ParamKind.NUMBER, 1, 20, 7.5)
    assert (params["nsfw_checker"].kind, params["nsfw_checker"].description) == (
        ParamKind.BOOLEAN,
        "Turn the NSFW filter on - or off",
    )
    assert (params["style"].choices, params["style"].common) == (("photo", "anime"), None)
    assert (params["mask_url"].kind, params["mask_url"].common) == (ParamKind.URL, None)
    assert "x-internal" not in params and "size" not in params
    assert draft.left_out == ("size: an object, which kiecore has no parameter kind for",)


def test_a_model_without_a_prompt_field_declares_no_prompt(upscaler_page: Path) -> None:
    draft = read_model(read_document(upscaler_page), source="page.md", family="Topaz")
    spec = draft.spec()
    assert (spec.id, spec.title, spec.live.for_common("prompt")) == ("topaz/image-upscale", "Topaz Image Upscale", None)
    image, factor = spec.live.params
    assert image == ParamSpec(
        name="image_url",
        kind=ParamKind.URL,
        common="image_urls",
        required=True,
        description="URL of the image to upscale",
    )
    assert factor == ParamSpec(
        name="upscale_factor", required=True, default="2", choices=("1", "2", "4"), description="How many times larger"
    )


def test_a_json_document_reads_as_its_yaml_does(tmp_path: Path, prompt_yaml: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(_prompt_document(), indent=2))
    assert _specs(path) == _specs(prompt_yaml)
    page = tmp_path / "page.md"
    page.write_text(f"# Demo\n\n```json\n{json.dumps(_prompt_document())}\n```\n")
    assert _specs(page) == _specs(prompt_yaml)


def test_enum_values_of_a_string_field_are_strings_the_schema_wins(tmp_path: Path) -> None:
    document = _prompt_document()
    fields = _properties(document)["input"]["properties"]
    fields["upscale_factor"] = {"type": "string", "enum": [1, 2, 4], "default": 2}
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(document))
    assert _specs(path)["upscale_factor"].choices == ("1", "2", "4")
    assert _specs(path)["upscale_factor"].default == "2"


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("The prompt. Max length: 5000 characters.", "The prompt"),
        ("  Use e.g. 16:9 here.\nMore.", "Use e.g. 16:9 here"),
        ("Ratio:\n- 1:1\n- 16:9", "Ratio"),
        ("Is it **bold**?  Yes.", "Is it bold?"),
        ("word " * 40, ("word " * 18).strip() + "..."),
        (None, ""),
    ],
)
def test_a_description_is_its_first_sentence(text: str | None, first: str) -> None:
    assert first_sentence(text) == first


def test_titles_and_names() -> None:
    assert title_of("wan/2-7-image") == "Wan 2.7 Image"
    assert title_of("nano-banana-2") == "Nano Banana 2"
    names = PluginNames.parse("Nano_Banana")
    assert (names.distribution, names.package, names.entry_point, names.family) == (
        "kiecore-nano-banana",
        "kiecore_nano_banana",
        "nano-banana",
        "Nano Banana",
    )
    assert (names.test_file, names.replies_file, names.test_class) == (
        "tests/test_nano_banana.py",
        "tests/replies/nano_banana.json",
        "TestNanoBanana",
    )
    assert PluginNames.parse("kiecore-wan").name == "wan"
    assert kiecore_range("0.1.3") == ">=0.1,<0.2" and kiecore_range("2.10.0rc1") == ">=2.10,<2.11"


def test_python_strings_are_quoted_as_ruff_formats_them() -> None:
    assert python_string('say "hi"') == "'say \"hi\"'"
    assert python_string("it's") == '"it\'s"'
    assert python_string("a\\b \u00e9 \u2192") == '"a\\\\b \u00e9 \\u2192"'


# -- refusals ------------------------------------------------------------------------------------------------------


def _properties(document: dict[str, Any]) -> dict[str, Any]:
    """The create request schema's ``properties`` (model, callBackUrl, input)."""
    content = document["paths"]["/api/v1/jobs/createTask"]["post"]["requestBody"]["content"]
    properties: dict[str, Any] = content["application/json"]["schema"]["properties"]
    return properties


def _broken(change: str) -> dict[str, Any]:
    document = _prompt_document()
    properties = _properties(document)
    if change == "no path":
        document["paths"] = {"/api/v1/other": {}}
    elif change == "no model id":
        properties["model"] = {"type": "string"}
    elif change == "no input":
        del properties["input"]
    elif change == "no input fields":
        properties["input"] = {"type": "object"}
    elif change == "bad maxLength":
        properties["input"]["properties"]["prompt"]["maxLength"] = "lots"
    elif change == "default outside enum":
        properties["input"]["properties"]["aspect_ratio"]["default"] = "4:5"
    elif change == "not openapi":
        del document["openapi"]
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no path", "no createTask request schema in {file} (no /api/v1/jobs/createTask under paths)"),
        ("no model id", "no model id in the createTask request schema in {file} (properties.model: enum or default)"),
        ("no input", "no input in the createTask request schema in {file} (properties.input)"),
        ("no input fields", "no input fields in the createTask request schema in {file} (input.properties)"),
        ("bad maxLength", "{file}: input.prompt: maxLength is not a whole number"),
        ("default outside enum", "{file}: input.aspect_ratio: its default '4:5' is not one of its enum values"),
        ("not openapi", "{file} is not an OpenAPI document: no openapi: version"),
    ],
)
def test_a_malformed_document_is_refused_naming_what_is_missing(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(_broken(change)))
    with pytest.raises(ScaffoldError) as caught:
        plan("demo", tmp_path, path)
    assert str(caught.value) == message.format(file=path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("page.md", "# A page\n\n```yaml\nfoo: 1\n```\n", "no fenced code block holding openapi: in {file}"),
        ("bad.json", '{"openapi": ', "{file} is not valid JSON: Expecting value at line 1"),
        (
            "bad.yaml",
            "openapi: [3.0.1\n",
            "{file} is not valid YAML: expected ',' or ']', but got '<stream end>' at line 2",
        ),
        ("list.yaml", "- openapi\n", "{file} holds no OpenAPI document (not a mapping)"),
        (
            "old.yaml",
            "swagger: '2.0'\nopenapi: '2.0'\n",
            "{file} is OpenAPI 2.0; kie plugin new reads OpenAPI 3.0 documents",
        ),
    ],
)
def test_an_unreadable_file_is_refused_in_one_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScaffoldError) as caught:
        read_document(path)
    assert str(caught.value) == message.format(file=path)
    with pytest.raises(ScaffoldError, match="cannot read"):
        read_document(tmp_path / "missing.yaml")


def test_yaml_without_pyyaml_says_what_to_install(
    prompt_yaml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(ScaffoldError) as caught:
        read_document(prompt_yaml)
    assert str(caught.value) == NEEDS_PYYAML == "reading YAML needs PyYAML: pip install 'kiecore[openapi]'"
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(_prompt_document()))
    assert read_document(path)["openapi"] == "3.0.1"  # JSON needs no PyYAML


def test_reading_json_imports_no_yaml(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(_prompt_document()))
    probe = (
        "import sys; from pathlib import Path; from kiecore.scaffold import plan; "
        f"plan('demo', Path({str(tmp_path)!r}), Path({str(path)!r})); print('yaml' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# -- the distribution ------------------------------------------------------------------------------------------


def test_the_distribution_matches_the_in_tree_plugins(tmp_path: Path) -> None:
    scaffold = new_plugin("wan", tmp_path)
    root = tmp_path / "kiecore-wan"
    assert scaffold.root == root
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) == [
        "README.md",
        "kiecore_wan/__init__.py",
        "kiecore_wan/py.typed",
        "pyproject.toml",
        "tests/replies/wan.json",
        "tests/test_wan.py",
    ]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    in_tree = tomllib.loads((Path(__file__).parent.parent / "plugins/kiecore-seedream/pyproject.toml").read_text())
    assert project["build-system"] == in_tree["build-system"]
    assert project["project"]["dependencies"] == in_tree["project"]["dependencies"] == [f"kiecore{kiecore_range()}"]
    assert project["project"]["version"] == "0.1.0"
    assert project["project"]["classifiers"] == in_tree["project"]["classifiers"]
    assert project["project"]["entry-points"] == {"kiecore.plugins": {"wan": "kiecore_wan:plugin"}}
    assert project["tool"]["setuptools"] == {"packages": ["kiecore_wan"], "package-data": {"kiecore_wan": ["py.typed"]}}
    cases = json.loads((root / "tests/replies/wan.json").read_text())
    assert cases["models"] == {
        "wan/2-7-image": {"names": ["wan/2-7-image"], "profiles": ["live"], "max_images": 1, "family": "Wan"}
    }
    assert {"create_reply", "queuing", "success", "failure", "smallest_request"} <= set(cases["live"])
    assert cases["live"]["smallest_request"]["expect"]["body"] == {
        "model": "wan/2-7-image",
        "input": {"prompt": "a red fox in the snow"},
    }
    module = (root / "kiecore_wan/__init__.py").read_text()
    assert "An example to edit" in module and 'id="wan/2-7-image"' in module and 'family="Wan"' in module


@pytest.mark.parametrize("document", [None, "prompt_yaml", "upscaler_page"])
def test_the_generated_module_declares_exactly_the_drafts(
    tmp_path: Path, request: pytest.FixtureRequest, document: str | None
) -> None:
    source = None if document is None else request.getfixturevalue(document)
    scaffold = new_plugin("probe", tmp_path, source)
    init = scaffold.root / "kiecore_probe" / "__init__.py"
    loader = importlib.util.spec_from_file_location(f"kiecore_probe_{document}", init)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert tuple(draft.spec() for draft in scaffold.models) == module.MODELS
    assert module.plugin.models == module.MODELS


def test_an_existing_folder_or_a_bad_name_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "kiecore-wan").mkdir()
    with pytest.raises(ScaffoldError, match="already exists"):
        new_plugin("wan", tmp_path)
    for bad in ("-wan", "wan!", "", "kiecore"):
        with pytest.raises(ScaffoldError):
            new_plugin(bad, tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["kiecore-wan"]


def test_the_generated_distributions_pass_their_own_tests(
    tmp_path: Path, prompt_yaml: Path, upscaler_page: Path
) -> None:
    """The example, a prompt model with every kind of field and a prompt-less upscaler, as generated: ruff-clean,
    formatted, and their conformance suites pass (one pytest run, each imported from its folder: no install)."""
    out = tmp_path / "out"
    roots = [new_plugin("wan", out).root, new_plugin("demo", out, prompt_yaml).root]
    roots.append(new_plugin("upscaler", out, upscaler_page).root)
    for check in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--no-cache", *map(str, roots)], capture_output=True, text=True
        )
        assert done.returncode == 0, f"ruff {check[0]}:\n{done.stdout}{done.stderr}"
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("KIE_", "KIECORE_"))}
    environ["KIECORE_JOURNAL"] = str(tmp_path / "journal.sqlite3")
    environ["PYTHONPATH"] = os.pathsep.join(str(root) for root in roots)
    tests = [str(root / "tests") for root in roots]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout and "failed" not in done.stdout


# -- the command -------------------------------------------------------------------------------------------------


def test_kie_plugin_new_prints_what_it_wrote_and_what_to_run(
    tmp_path: Path, prompt_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugin", "new", "demo", "--from-openapi", str(prompt_yaml), "--directory", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "kiecore-demo"
    assert out.splitlines() == [
        f"wrote {root}:",
        *(
            f"  {root / name}"
            for name in (
                "pyproject.toml",
                "README.md",
                "kiecore_demo/__init__.py",
                "kiecore_demo/py.typed",
                "tests/test_demo.py",
                "tests/replies/demo.json",
            )
        ),
        "next:",
        f"  cd {root}",
        "  pip install -e '.[test]'",
        "  pytest",
    ]
    assert "--from-openapi demo.yaml" in (root / "kiecore_demo/__init__.py").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wan!"], "'wan!' is not a valid distribution name"),
        (["wan", "--from-openapi", "missing.yaml"], "cannot read missing.yaml"),
        (["wan", "--from-openapi", "broken.json"], "no createTask request schema in broken.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.json").write_text(json.dumps(_broken("no path")))
    assert main(["plugin", "new", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"kie: error: {message}") and captured.err.count("\n") == 1, captured.err
    assert not (tmp_path / "kiecore-wan").exists()


def test_an_existing_folder_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "new", "wan", "--directory", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["plugin", "new", "wan", "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"kie: error: {tmp_path / 'kiecore-wan'} already exists: choose another --directory, or remove it first\n"
    )
