"""docker-compose.yml: Neo4j 5.26 community with a health check and a data volume, the API waiting
for it, both published on loopback only. (`make compose-config` runs the real `docker compose config`.)"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_shape():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    neo4j, api = compose["services"]["neo4j"], compose["services"]["api"]
    assert neo4j["image"] == "neo4j:5.26-community"
    assert "NEO4J_PASSWORD" in neo4j["environment"]["NEO4J_AUTH"]
    assert "cypher-shell" in " ".join(neo4j["healthcheck"]["test"])
    assert any(v.endswith(":/data") for v in neo4j["volumes"])
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["environment"]["XUNCHA_STORE"].startswith("neo4j://neo4j:")
    for service in (neo4j, api):
        assert all(port.startswith("127.0.0.1:") for port in service["ports"])


def test_dockerfile_installs_every_package_and_serves_the_api():
    """The image holds every package pyproject ships, installs them, and runs ``xuncha serve`` on
    all interfaces inside the container (compose publishes it on loopback only)."""
    import re
    import tomllib
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+) \1$", text, re.M))
    assert {p.rstrip("*") for p in packages} <= copied
    assert re.search(r"^RUN pip install [^\n]*\.\s*$", text, re.M)
    assert re.search(r"^ENV [^\n]*XUNCHA_API_HOST=0\.0\.0\.0", text, re.M)
    assert re.search(r'^CMD \["xuncha", "serve"\]', text, re.M)
    assert "NEO4J_PASSWORD" not in text  # the password comes from the environment at run time
