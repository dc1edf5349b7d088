"""The HTTP API calls the same services as the CLI, and maps project errors once."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import app
from graph.settings import Settings


@pytest.fixture
def client(chongqing_scenario, monkeypatch):
    path, scenario, _ = chongqing_scenario
    monkeypatch.setenv("XUNCHA_STORE", f"sqlite:///{path}")
    return TestClient(app), scenario


def test_default_bind_is_loopback(monkeypatch):
    monkeypatch.delenv("XUNCHA_API_HOST", raising=False)
    assert Settings().api_host == "127.0.0.1"


def test_rootcauses_and_chain(client):
    http, scenario = client
    assert http.get("/health").json() == {"status": "ok", "store": "sqlite"}
    causes = http.get("/rootcauses", params={"top": 3}).json()
    assert len(causes) == 3 and causes[0]["rank"] == 1
    chain = http.get(f"/issues/{scenario.issues[0]['issue_id']}/chain").json()
    assert [level["level"] for level in chain["levels"]] == ["village", "township", "district"]


def test_errors_carry_their_status(client):
    http, _ = client
    missing = http.get("/issues/nope/chain")
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
    assert http.get("/rootcauses", params={"level": "village"}).status_code == 422
