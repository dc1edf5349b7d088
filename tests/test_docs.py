"""The documentation read against the code, where a test can: every SQLite table in docs/model.md,
every analysis module in the README's code map, one version for the package and the API, and the
pages the README's code map lists exist. (Every CLI command and option: tests/test_cli.py.)"""
from __future__ import annotations

import re
import tomllib

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_map() -> str:
    match = re.search(r"^## The code\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, "the README has its code map"
    return match.group(1)


def test_every_sqlite_table_is_in_the_model_page():
    tables = set()
    for path in (ROOT / "graph").rglob("*.py"):
        tables |= set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", path.read_text(encoding="utf-8")))
    assert len(tables) >= 10
    model = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s*\| `(\w+)` \|", model, re.M))
    assert tables <= listed, sorted(tables - listed)


def test_every_analysis_module_is_in_the_readme_code_map():
    analysis = ROOT / "graph" / "analysis"
    modules = {p.stem for p in analysis.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in analysis.iterdir() if (p / "__init__.py").exists()}
    text = code_map()
    missing = sorted(m for m in modules if not re.search(rf"\b{m}\b", text))
    assert not missing, f"not in the README's code map: {missing}"


def test_the_package_and_the_api_have_one_version():
    import graph
    from api.main import create_app
    from graph.settings import Settings
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", graph.__version__)
    assert create_app(Settings(XUNCHA_STORE="sqlite:///unused.db")).version == graph.__version__


def test_the_pages_the_readme_names_exist():
    named = set(re.findall(r"\b([\w-]+\.md)\b", code_map())) | set(re.findall(r"\(docs/([\w-]+\.md)", README))
    assert "architecture.md" in named
    for page in named - {"README.md"}:
        assert (ROOT / "docs" / page).exists(), page
