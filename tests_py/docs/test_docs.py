"""dbt docs: generated on a dev database, complete, and browsable.

The lineage test opens the generated static docs in headless Chromium (Debian's
`chromium`), drives it over the DevTools protocol, opens sync_data's lineage
graph and reads the nodes and edges the graph library drew. A screenshot lands
in artifacts/docs/ (gitignored).
"""

import base64
import copy
import json
import time
import urllib.parse

import pytest
import yaml
from browser import Browser
from conftest import DEFAULT_DEV_DB, PROJECT_DIR, REPO_DIR, copy_project, run_dbt

PROJECT = "sync_data_migration"
SCREENSHOT_DIR = REPO_DIR / "artifacts" / "docs"
STAGING_MODELS = {
    f"model.{PROJECT}.stg_backend__logbook_entries",
    f"model.{PROJECT}.stg_backend__goals",
    f"model.{PROJECT}.stg_backend__practice_sessions",
}
SYNC_DATA = f"model.{PROJECT}.sync_data"
EXPOSURE = f"exposure.{PROJECT}.api_sync_pull"


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """`make run`'s dev database, then `dbt docs generate` and `--static`."""
    work = tmp_path_factory.mktemp("docs")
    project = copy_project(work / "project")
    run_dbt(DEFAULT_DEV_DB, "build", project_dir=project)
    plain = work / "target"
    static = work / "target_static"
    run_dbt(DEFAULT_DEV_DB, "docs", "generate", "--target-path", str(plain), project_dir=project)
    run_dbt(
        DEFAULT_DEV_DB,
        "docs",
        "generate",
        "--static",
        "--target-path",
        str(static),
        project_dir=project,
    )
    return {"project": project, "plain": plain, "static": static}


def test_docs_generate_writes_the_site_and_a_single_file(docs):
    for name in ["index.html", "manifest.json", "catalog.json"]:
        assert (docs["plain"] / name).stat().st_size > 0, name
    single = (docs["static"] / "static_index.html").read_text()
    # the single file carries the manifest and catalog inline: nothing to fetch
    assert '"model.sync_data_migration.sync_data"' in single
    assert '"source.sync_data_migration.backend.goals"' in single
    catalog = json.loads((docs["plain"] / "catalog.json").read_text())
    assert {"data", "checksum", "version"} <= {
        c.lower() for c in catalog["nodes"][SYNC_DATA]["columns"]
    }


# --- coverage ---------------------------------------------------------------

# An engine's implementation of a dispatched macro is described at its
# dispatcher, in the dispatcher's entry.
ADAPTER_IMPLEMENTATION = ("sqlite__", "postgres__", "default__")


def undocumented(manifest, catalog):
    """Every thing of this project that lacks a description, by name."""
    missing = []

    def check(kind, name, text):
        if not (text or "").strip():
            missing.append(f"{kind} {name}")

    for uid, node in manifest["nodes"].items():
        if node["package_name"] != PROJECT:
            continue
        kind = node["resource_type"]
        if kind in {"model", "seed", "analysis", "snapshot"}:
            check(kind, node["name"], node["description"])
            documented = node["columns"]
            for column, props in documented.items():
                check(f"{kind} column", f"{node['name']}.{column}", props["description"])
            built = catalog["nodes"].get(uid, {}).get("columns", {})
            for column in built:
                if column.lower() not in {c.lower() for c in documented}:
                    missing.append(f"{kind} column {node['name']}.{column.lower()}")
        elif kind == "test" and not node.get("test_metadata"):
            check("singular test", node["name"], node["description"])
    for uid, source in manifest["sources"].items():
        if source["package_name"] != PROJECT:
            continue
        name = f"{source['source_name']}.{source['name']}"
        check("source", source["source_name"], source["source_description"])
        check("source table", name, source["description"])
        for column, props in source["columns"].items():
            check("source column", f"{name}.{column}", props["description"])
        for column in catalog["sources"].get(uid, {}).get("columns", {}):
            if column.lower() not in {c.lower() for c in source["columns"]}:
                missing.append(f"source column {name}.{column.lower()}")
    for exposure in manifest["exposures"].values():
        check("exposure", exposure["name"], exposure["description"])
    # With validate_macro_args on, dbt checks the documented arguments against
    # the macro's definition (macro_annotation_warnings), and a macro whose
    # yml lists none carries its definition's arguments, undescribed.
    for macro in manifest["macros"].values():
        if macro["package_name"] != PROJECT or macro["name"].startswith(ADAPTER_IMPLEMENTATION):
            continue
        check("macro", macro["name"], macro["description"])
        for argument in macro["arguments"]:
            check("macro argument", f"{macro['name']}.{argument['name']}", argument["description"])
    return sorted(missing)


def load_artifacts(target):
    return (
        json.loads((target / "manifest.json").read_text()),
        json.loads((target / "catalog.json").read_text()),
    )


def test_everything_is_described(docs):
    manifest, catalog = load_artifacts(docs["plain"])
    assert undocumented(manifest, catalog) == []


def test_coverage_check_names_what_is_missing(docs):
    manifest, catalog = load_artifacts(docs["plain"])
    broken = copy.deepcopy(manifest)
    broken["nodes"][SYNC_DATA]["columns"]["checksum"]["description"] = ""
    broken["nodes"][SYNC_DATA]["columns"].pop("version")
    macro = broken["macros"][f"macro.{PROJECT}.js_json"]
    macro["description"] = ""
    # what dbt writes for an argument the yml does not describe
    macro["arguments"] = [{"name": "expr", "type": None, "description": ""}]
    source = broken["sources"][f"source.{PROJECT}.backend.goals"]
    source["description"] = " "
    before = set(undocumented(manifest, catalog))
    assert sorted(set(undocumented(broken, catalog)) - before) == [
        "macro argument js_json.expr",
        "macro js_json",
        "model column sync_data.checksum",
        "model column sync_data.version",
        "source table backend.goals",
    ]


def test_adapter_implementations_are_left_to_their_dispatcher(docs):
    manifest, catalog = load_artifacts(docs["plain"])
    implementation = manifest["macros"][f"macro.{PROJECT}.sqlite__js_json"]
    assert not implementation["description"]
    assert implementation["arguments"][0]["name"] == "expr"
    assert not implementation["arguments"][0]["description"]
    assert not [
        m
        for m in undocumented(manifest, catalog)
        if m.split()[-1].startswith(ADAPTER_IMPLEMENTATION)
    ]


def macro_annotation_warnings(project):
    """dbt's InvalidMacroAnnotation messages of a full parse of the project."""
    proc = run_dbt(
        DEFAULT_DEV_DB, "parse", "--no-partial-parse", "--log-format", "json", project_dir=project
    )
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return sorted(e["info"]["msg"] for e in events if e["info"]["name"] == "InvalidMacroAnnotation")


def test_macro_arguments_match_their_definitions(docs):
    flags = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["flags"]
    assert flags["validate_macro_args"] is True
    assert macro_annotation_warnings(docs["project"]) == []


def test_dbt_names_misdocumented_macro_arguments(project_copy):
    path = project_copy / "macros" / "adapters" / "_adapters__macros.yml"
    docs = yaml.safe_load(path.read_text())
    entries = {entry["name"]: entry for entry in docs["macros"]}
    entries["js_json"]["arguments"][0]["name"] = "json_text"
    entries["text_position"]["arguments"].pop()
    entries["whole_ms"]["arguments"][0]["type"] = "number"
    path.write_text(yaml.safe_dump(docs, sort_keys=False))
    assert macro_annotation_warnings(project_copy) == [
        "Argument expr in the yaml for macro whole_ms has an invalid type.",
        "Argument json_text in yaml for macro js_json does not match the jinja definition.",
        "The number of arguments in the yaml for macro text_position does not match the jinja"
        " definition.",
    ]


def test_exposure_is_the_api_reading_sync_data(docs):
    manifest, _ = load_artifacts(docs["plain"])
    exposure = manifest["exposures"][EXPOSURE]
    assert exposure["type"] == "application"
    assert exposure["maturity"] == "high"
    assert exposure["owner"]["name"] == "API team"
    assert exposure["depends_on"]["nodes"] == [SYNC_DATA]


# --- the lineage in a browser -------------------------------------------------


# The drawn graph: cytoscape keeps its instance on its container element.
DRAWN_GRAPH = """
(function () {
    var container = document.getElementById('cy');
    if (!container || !container._cyreg || !container._cyreg.cy) { return null; }
    var cy = container._cyreg.cy;
    var nodes = cy.nodes(':visible').map(function (n) { return n.id(); });
    if (nodes.length === 0) { return null; }
    return {
        nodes: nodes,
        edges: cy.edges(':visible').map(function (e) {
            return [e.source().id(), e.target().id()];
        })
    };
})()
"""


def reachable(edges, start):
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for source, target in edges:
            if source == node and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_sync_data_lineage_in_chromium(docs):
    page = (docs["static"] / "static_index.html").resolve()
    # sync_data's page with its lineage graph open, selected as dbt docs does
    # when one clicks the graph button: the model, its parents and children.
    selector = urllib.parse.quote("+sync_data+", safe="")
    url = f"{page.as_uri()}#!/model/{SYNC_DATA}?g_v=1&g_i={selector}"
    browser = Browser()
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        title = browser.wait_for("document.querySelector('.app-title, h1') && document.title")
        assert title
        graph = browser.wait_for(DRAWN_GRAPH)
        # the layout settles after the nodes exist; then the picture is final
        time.sleep(1)
        shot = browser.call("Page.captureScreenshot", format="png")
    finally:
        browser.close()
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    png = base64.b64decode(shot["data"])
    (SCREENSHOT_DIR / "sync_data_lineage.png").write_bytes(png)
    assert png.startswith(b"\x89PNG")

    nodes = set(graph["nodes"])
    edges = [tuple(edge) for edge in graph["edges"]]
    assert STAGING_MODELS | {SYNC_DATA, EXPOSURE} <= nodes
    assert (SYNC_DATA, EXPOSURE) in edges
    for staging in STAGING_MODELS:
        assert EXPOSURE in reachable(edges, staging), staging
    for table in ["logbook_entries", "goals", "practice_sessions"]:
        source = f"source.{PROJECT}.backend.{table}"
        assert source in nodes
        assert f"model.{PROJECT}.stg_backend__{table}" in reachable(edges, source)
    # only sync_data's lineage is drawn: not the seeds that feed nothing here
    assert not {n for n in nodes if n.startswith(f"seed.{PROJECT}.")}
