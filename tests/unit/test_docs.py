"""The documentation stays true to the code: the configuration tables list exactly the settings
`Settings` has, with its defaults; every link stays inside the repository and resolves; the HTTP
reference lists exactly the routes the app serves; every alert of docs/alerts.yaml has what an
alert needs and its section in the on-call document."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from fastapi.routing import APIRoute
from starlette.routing import Route

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, load_settings, usable_cores

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HTTP_API = ROOT / "docs" / "http-api.md"
ALERTS = ROOT / "docs" / "alerts.yaml"
OPERATIONS = ROOT / "docs" / "operations.md"

CONFIG_HEADER = "| variable | meaning | default |"
# Defaults computed at start rather than written in the code: what the table must say instead.
COMPUTED_DEFAULTS = {
    "hash_concurrency": (
        usable_cores,
        "the cores this process may use: its CPU affinity or its cgroup v2 CPU quota",
    )
}


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _config_rows(text: str) -> list[tuple[list[str], str]]:
    """(variable names, default cell) of every row of every configuration table in `text`."""
    rows = []
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.strip() != CONFIG_HEADER:
            continue
        for row in lines[start + 2 :]:
            if not row.startswith("|"):
                break
            cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
            names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
            rows.append((names, cells[-1]))
    return rows


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    prefix = Settings.model_config.get("env_prefix", "")
    return (alias if isinstance(alias, str) else prefix + field).upper()


def _documented(default: object) -> str:
    """A default as the tables write it."""
    if default is None:
        return "unset"
    if default == "":
        return "empty"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _expected_defaults() -> dict[str, str | None]:
    """Environment variable -> its documented default; None for a computed one."""
    expected = {}
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            assert name in COMPUTED_DEFAULTS, f"{name}: say in COMPUTED_DEFAULTS how it is written"
            assert field.default_factory is COMPUTED_DEFAULTS[name][0], name
            expected[_env_name(name)] = None
        else:
            expected[_env_name(name)] = _documented(field.default)
    return expected


def _documented_defaults(names: list[str], cell: str) -> list[str]:
    """The default cell of a row naming `names`: one literal a variable (`3`, `65536`, `4`), or
    `unset`/`empty` (perhaps followed by what that means), or a computed default in words."""
    for word in ("unset", "empty"):
        if cell == word or cell.startswith((f"{word} ", f"{word}:")):
            return [word] * len(names)
    return re.findall(r"`([^`]*)`", cell)


def test_there_is_a_configuration_table():
    tables = [path for path in DOCUMENTS if CONFIG_HEADER in path.read_text()]
    assert tables == [ROOT / "docs" / "configuration.md"]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_configuration_tables_list_exactly_the_settings_with_their_defaults(path):
    rows = _config_rows(path.read_text())
    if not rows:
        return  # this document has no configuration table; the test above finds the one there is
    expected = _expected_defaults()
    listed: dict[str, str | None] = {}
    for names, cell in rows:
        assert names, f"a row names no variable: {cell}"
        computed = [n for n in names if expected.get(n, "") is None]
        if computed:
            (name,) = names
            field = name.lower()
            assert COMPUTED_DEFAULTS[field][1] in cell, f"{name}: default should read {cell!r}"
            listed[name] = None
            continue
        defaults = _documented_defaults(names, cell)
        assert len(defaults) == len(names), f"{names}: one default each, found {cell!r}"
        for name, default in zip(names, defaults, strict=True):
            assert name not in listed, f"{name} is listed twice"
            listed[name] = default
    assert sorted(listed) == sorted(expected), "the table and Settings name different variables"
    wrong = {n: (listed[n], expected[n]) for n in expected if listed[n] != expected[n]}
    assert not wrong, f"documented vs actual defaults: {wrong}"


# Links: [text](target) and ![alt](target), outside code blocks and code spans.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
BARE_URL = re.compile(r"<?\b[a-z][a-z0-9+.-]*://[^\s)>`]+")
LOCAL_HOSTS = re.compile(r"^https?://(127\.0\.0\.1|localhost)[:/]")


def _prose(text: str) -> str:
    return re.sub(r"`[^`]*`", "", _without_code_blocks(text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    kept = "".join(
        c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM"
    )  # letters, numbers and marks
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for line in _without_code_blocks(path.read_text()).splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            slug = base = _slug(match.group(1))
            count = 0
            while slug in anchors:
                count += 1
                slug = f"{base}-{count}"
            anchors.add(slug)
    return anchors


def _links(path: Path) -> list[str]:
    return LINK.findall(_without_code_blocks(path.read_text()))


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repository(path):
    for target in _links(path):
        assert not re.match(r"[a-z][a-z0-9+.-]*:", target), f"{target}: links leave the repository"
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        assert resolved.is_relative_to(ROOT), f"{target}: outside the repository"
        assert resolved.exists(), f"{target}: no such file"
        if anchor:
            assert resolved.suffix == ".md", f"{target}: an anchor into a file that is not Markdown"
            assert anchor in _anchors(resolved), f"{target}: no such heading in {resolved.name}"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_no_address_outside_the_repository_in_prose(path):
    # GitHub turns a bare URL into a link; only the service's own local address may appear.
    foreign = [
        url
        for url in BARE_URL.findall(_prose(path.read_text()))
        if not LOCAL_HOSTS.match(url.lstrip("<"))
    ]
    assert not foreign, f"addresses outside the repository: {foreign}"


def test_the_link_checks_find_broken_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n[a](missing.md) [b](#nowhere) [c](https://example.com/x)\n")
    assert _links(page) == ["missing.md", "#nowhere", "https://example.com/x"]
    assert _anchors(page) == {"title"}
    assert _slug("Forward auth (nginx, `Traefik`)") == "forward-auth-nginx-traefik"


# The HTTP reference: `METHOD /path` in docs/http-api.md against the app's routes.
ENDPOINT = re.compile(r"`(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/[^`\s]*)`")
# Swagger UI's helper page for OAuth2 logins, which this API does not use: FastAPI adds it with
# /docs, and it is no endpoint a user calls.
NOT_ENDPOINTS = {("GET", "/docs/oauth2-redirect")}


def _app_routes() -> set[tuple[str, str]]:
    # Mail on: the routes that send mail exist only then.
    settings = load_settings(mail_url="console:", public_url="https://auth.example")
    app = create_app(build_container(settings))
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }

    def walk(routes) -> None:
        for route in routes:
            if isinstance(route, APIRoute | Route):
                found.update((m, route.path) for m in route.methods or () if m != "HEAD")
            elif hasattr(route, "original_router"):  # FastAPI 0.16x keeps included routers so
                walk(route.original_router.routes)
            else:
                raise AssertionError(f"a route of a kind this test does not read: {route!r}")

    walk(app.routes)
    return found - NOT_ENDPOINTS


def test_the_http_reference_lists_exactly_the_routes_of_the_app():
    documented = set(ENDPOINT.findall(HTTP_API.read_text()))
    served = _app_routes()
    assert served - documented == set(), "served but not in docs/http-api.md"
    assert documented - served == set(), "in docs/http-api.md but not served"


# docs/architecture.md's "Where each rule lives": every module exists and defines each name given.
def _rule_rows() -> list[tuple[str, list[str], list[str]]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## Where each rule lives", 1)[1]
    rows = []
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith("| rule |"):
            continue
        rule, modules, names = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rows.append((rule, re.findall(r"`([^`]+)`", modules), re.findall(r"`([^`]+)`", names)))
    return rows


def _defines(path: Path, name: str) -> bool:
    pattern = rf"^(class|def|async def) {re.escape(name)}\b|^{re.escape(name)}\b[^=\n]*="
    return re.search(pattern, path.read_text(), flags=re.M) is not None


def test_where_each_rule_lives_names_modules_and_definitions_that_exist():
    rows = _rule_rows()
    assert len(rows) > 20
    for rule, modules, names in rows:
        paths = [ROOT / module for module in modules]
        assert paths and all(path.exists() for path in paths), f"{rule}: {modules}"
        sources = [p for p in paths if p.suffix == ".py"]
        for name in names:
            assert any(_defines(p, name) for p in sources), f"{rule}: {name} is not in {modules}"


def _alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_waits_has_a_severity_says_what_it_means_and_has_its_runbook_section():
    rules = _alert_rules()
    headings = re.findall(r"^### (\S+)$", OPERATIONS.read_text(), flags=re.M)
    assert len(rules) >= 6
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook"] == f"docs/operations.md#{name.lower()}", name
        assert name in headings, f"docs/operations.md has no section for {name}"
