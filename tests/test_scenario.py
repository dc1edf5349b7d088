"""The scenario generator: deterministic per seed, realistic in size and spread, and its truth
file says exactly what it planted."""
from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict

from loaders.scenario import generate_scenario
from loaders.tables import load_table

from .conftest import SMALL_SCOPE


def read(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_files_other_seed_other_files(chongqing, tmp_path):
    first = generate_scenario(chongqing, districts=list(SMALL_SCOPE), seed=11).write(tmp_path / "a")
    second = generate_scenario(chongqing, districts=list(SMALL_SCOPE), seed=11).write(tmp_path / "b")
    third = generate_scenario(chongqing, districts=list(SMALL_SCOPE), seed=12).write(tmp_path / "c")
    for name in ("units", "duties", "issues", "truth"):
        assert first[name].read_bytes() == second[name].read_bytes()
    assert first["issues"].read_bytes() != third["issues"].read_bytes()


def test_chongqing_term_is_about_seventy_thousand_overdispersed_problems(chongqing_scenario):
    _, scenario, files = chongqing_scenario
    issues = read(files["issues"])
    assert 65_000 <= len(issues) <= 78_000
    per_village = Counter(i["village_code"] for i in issues)
    counts = list(per_village.values()) + [0] * (11270 - len(per_village))
    mean, variance = statistics.fmean(counts), statistics.pvariance(counts)
    assert variance > 1.5 * mean  # real ledgers are overdispersed, not Poisson
    assert {i["severity"] for i in issues} == {"minor", "serious", "grave"}
    assert len({i["category"] for i in issues}) == 20


def test_truth_matches_what_was_planted(chongqing_scenario):
    _, scenario, files = chongqing_scenario
    truth = json.loads(files["truth"].read_text(encoding="utf-8"))
    assert len(truth["root_causes"]) == len(scenario.causes) >= 10
    assert {c["kind"] for c in truth["root_causes"]} == {"district_policy", "township_supervision", "recurrence"}
    units = {u["unit_id"]: u for u in read(files["units"])}
    duties = {(d["category"], d["level"], d["function"]): d["duty"] for d in read(files["duties"])}
    issues = defaultdict(set)
    for i in read(files["issues"]):
        issues[(i["village_code"], i["category"])].add(i["issue_id"])
    for cause in truth["root_causes"]:
        unit = units[cause["unit_id"]]
        assert unit["level"] == cause["level"] and unit["area_code"] == cause["area_code"]
        assert duties[(cause["category"], cause["level"], unit["function"])] in ("primary", "supervisory")
        assert cause["villages"], cause
        for village in cause["villages"]:
            assert village.startswith(cause["area_code"])
            assert issues[(village, cause["category"])], (village, cause["category"])


def test_generated_files_load_cleanly(chongqing, tmp_path):
    scenario = generate_scenario(chongqing, districts=list(SMALL_SCOPE), seed=3)
    files = scenario.write(tmp_path)
    summaries = {t: load_table(chongqing, t, files[t]) for t in ("units", "duties", "issues")}
    assert summaries["issues"].inserted == len(scenario.issues)
    assert chongqing.counts()["issues"] == len(scenario.issues)


def test_two_terms_label_each_problem_and_plant_causes_in_the_latest_only(chongqing, tmp_path):
    """--terms 2 --spread 0.02: every problem carries its 届次 (the file's column), the earlier
    term five years before the latest, causes act in the latest term only, and the districts'
    local differences are the same in both terms (a district's share of a category moves together)."""
    scenario = generate_scenario(chongqing, districts=list(SMALL_SCOPE), seed=5, terms=2, spread=0.02, every_round=True)
    terms = Counter(i["term"] for i in scenario.issues)
    assert set(terms) == {"第1届", "第2届"} and min(terms.values()) > 10_000
    first = {t: min(i["found_on"] for i in scenario.issues if i["term"] == t) for t in terms}
    assert first["第1届"][:4] == str(int(first["第2届"][:4]) - 5)
    for cause in scenario.causes:  # the cause's villages see its category ×2–5 in the latest term only
        affected = set(cause.affected)
        count = Counter(i["term"] for i in scenario.issues
                        if i["village_code"] in affected and i["category"] == cause.category)
        assert count["第2届"] > 1.5 * count["第1届"], (cause.kind, count)
    with open(scenario.write(tmp_path)["issues"], encoding="utf-8") as f:
        assert next(csv.reader(f))[-1] == "届次"
    # the local multipliers make the same districts high in both terms
    shares = defaultdict(dict)
    for term in terms:
        mine = [i for i in scenario.issues if i["term"] == term]
        for d in SMALL_SCOPE:
            in_d = [i for i in mine if i["village_code"].startswith(d)]
            shares[term][d] = {c: sum(i["category"] == c for i in in_d) / len(in_d) for c in {i["category"] for i in in_d}}
    local = [scenario.local[(d, c)] for d in SMALL_SCOPE for c in shares["第1届"][d]]
    ratio = [shares["第2届"][d].get(c, 0) / shares["第1届"][d][c] for d in SMALL_SCOPE for c in shares["第1届"][d]
             if shares["第1届"][d][c] > 0.02]
    assert statistics.pstdev(local) > 0.2 and statistics.median(ratio) > 0.8
    same_seed_one_term = generate_scenario(chongqing, districts=list(SMALL_SCOPE), seed=5, every_round=True)
    assert "term" not in same_seed_one_term.issues[0] and not same_seed_one_term.local
