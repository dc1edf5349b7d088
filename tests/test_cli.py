"""The command line as users meet it: every command and option documented in the README, help in
Chinese, reading commands that create nothing, exit codes, JSON without NaN, CJK-aligned tables."""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest

from cli.main import _print_json, build_parser, display_width

from .conftest import ROOT, district_office, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def readme_section(name: str) -> str:
    match = re.search(rf"^### `xuncha {name}`\n(.*?)(?=^##)", README, re.S | re.M)
    assert match, f"README documents xuncha {name}"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_and_option_is_documented_in_the_readme(name):
    section = readme_section(name)
    for action in commands()[name]._actions:
        if action.dest in ("help", "store", "json"):
            continue
        names = action.option_strings or [action.dest.upper()]
        assert any(f"`{n}`" in section for n in names), f"xuncha {name}: {names[0]} is not in the README"


def test_help_is_in_chinese():
    result = run_cli("load", "--help")
    assert result.returncode == 0 and "用法：" in result.stdout and "选项" in result.stdout
    assert "--new-category" in result.stdout and "问题类别" in result.stdout


@pytest.mark.slow
def test_reading_a_store_that_does_not_exist_exits_2_and_creates_nothing(tmp_path):
    missing = tmp_path / "no" / "such" / "x.db"
    for args in (["stats"], ["rootcauses", "--json"], ["show", "500101"], ["chain", "Q1"], ["history", "Q1"]):
        result = run_cli(*args, store=f"sqlite:///{missing}")
        assert result.returncode == 2, (args, result.stderr)
        assert "没有存储" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "no").exists()


def test_a_store_url_without_a_path_is_refused_not_taken_for_the_default(tmp_path):
    """``sqlite:///`` with its path left out (a typo in a script) names no file: exit 2 saying
    so, and no ./xuncha.db is created or read in its place."""
    result = subprocess.run([sys.executable, "-m", "cli.main", "--store", "sqlite:///", "stats"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result.stderr
    assert "--store（或 XUNCHA_STORE）" in result.stderr and "数据库文件路径" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "xuncha.db").exists()


def test_reads_work_on_a_read_only_file_system(chongqing_template, tmp_path):
    """A store on a read-only mount (a CD, a locked-down share) is still readable."""
    source, mount = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    mount.mkdir()
    shutil.copy(chongqing_template, source / "x.db")
    made = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here (needs root): {made.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], check=True)
        assert subprocess.run(["touch", str(mount / "probe")], capture_output=True).returncode != 0
        result = run_cli("stats", "--json", store=f"sqlite:///{mount / 'x.db'}")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["by_level"]["district"] == 38
        result = run_cli("load", "divisions", store=f"sqlite:///{mount / 'x.db'}")
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_unknown_district_exits_2(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    for command in ("stats", "rootcauses", "packages"):
        result = run_cli(command, "--district", "500199", store=f"sqlite:///{db}")
        assert result.returncode == 2 and "已加载的 6 位区县代码" in result.stderr, result.stderr


@pytest.mark.slow
def test_an_analysis_takes_a_district_s_name_and_says_when_it_has_no_ledger(chongqing_template, tmp_path):
    """An analyst types the district as she says it (万州区); a name two provinces share is refused
    with both codes; a district with no ledger loaded is told so, not "nothing above the threshold";
    --top and --min-confidence out of range exit 2 in Chinese."""
    from graph.model import Division
    from graph.sqlite_store import SQLiteStore
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    store = SQLiteStore(db)
    store.upsert_divisions([Division("32", "江苏省", "province", None), Division("3201", "南京市", "city", "32"),
                            Division("320106", "鼓楼区", "district", "3201"), Division("35", "福建省", "province", None),
                            Division("3501", "福州市", "city", "35"), Division("350102", "鼓楼区", "district", "3501")])
    store.close()
    where = f"sqlite:///{db}"
    for command in ("rootcauses", "packages"):
        named = run_cli(command, "--district", "万州区", store=where)
        assert named.returncode == 0, named.stderr
        assert "区县 万州区(500101) 没有载入问题台账" in named.stdout
        assert "没有高于置信度阈值" not in named.stdout  # not told twice, nor that a ledger found nothing
    shared = run_cli("rootcauses", "--district", "鼓楼区", store=where)
    assert shared.returncode == 2 and "南京市鼓楼区 320106" in shared.stderr and "福州市鼓楼区 350102" in shared.stderr
    for option, value, expected in (("--top", "0", "应为正整数"), ("--top", "-3", "应为正整数"),
                                    ("--min-confidence", "1.5", "0 到 1 之间"), ("--min-confidence", "-1", "0 到 1 之间")):
        refused = run_cli("rootcauses", option, value, store=where)
        assert refused.returncode == 2 and expected in refused.stderr, (option, value, refused.stderr)


@pytest.mark.slow
def test_a_report_goes_where_a_colleague_can_open_it_or_the_analyst_is_told_why_not(chongqing_template, tmp_path):
    """A report is readable as the user's other files are (not 0600); a path that cannot be written
    (a file where a folder should be) exits 1 with the path and the reason in Chinese, no traceback."""
    where, out = district_office(chongqing_template, tmp_path, "--seed", "1")
    umask = os.umask(0o022)
    try:
        assert run_cli("rootcauses", "--xlsx", str(tmp_path / "r.xlsx"), "--csv", str(tmp_path / "r.csv"),
                       store=where).returncode == 0
    finally:
        os.umask(umask)
    assert {oct((tmp_path / name).stat().st_mode & 0o777) for name in ("r.xlsx", "r.csv")} == {"0o644"}
    for command, option in (("rootcauses", "--csv"), ("rootcauses", "--xlsx"), ("packages", "--xlsx")):
        refused = run_cli(command, option, str(out / "issues.csv" / "r.out"), store=where)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert f"无法写出 {out / 'issues.csv' / 'r.out'}：路径中有" in refused.stderr


@pytest.mark.slow
def test_token_list_shows_times_as_the_office_reads_them(chongqing_template, tmp_path):
    """Times are stored in UTC; an office in Chongqing reads its own clock (+08:00), --json the stored value."""
    import datetime as dt
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    where = f"sqlite:///{db}"
    assert run_cli("token", "create", "--role", "viewer", "--name", "大屏", store=where).returncode == 0
    stored = json.loads(run_cli("token", "list", "--json", store=where).stdout)[0]["created_at"]
    local = dt.datetime.fromisoformat(stored).astimezone(dt.timezone(dt.timedelta(hours=8)))
    plain = run_cli("token", "list", store=where, env={"XUNCHA_TIMEZONE": "+08:00"}).stdout
    assert local.strftime("%Y-%m-%d %H:%M:%S") in plain and stored not in plain


@pytest.mark.slow
def test_show_takes_a_name_and_lists_an_ambiguous_one(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    result = run_cli("show", "高笋塘街道", "--json", store=f"sqlite:///{db}")
    assert result.returncode == 0 and json.loads(result.stdout)["code"] == "500101001"
    result = run_cli("show", "中心村", store=f"sqlite:///{db}")
    assert result.returncode == 2 and "匹配的有" in result.stderr


def test_json_never_prints_nan_or_infinity(capsys):
    _print_json({"p": float("nan"), "ratio": [float("inf"), 1.5]})
    printed = capsys.readouterr().out
    assert json.loads(printed) == {"p": None, "ratio": [None, 1.5]}
    assert "NaN" not in printed and "Infinity" not in printed and math.isfinite(1.5)


def test_stats_columns_line_up_with_chinese_names(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    result = run_cli("stats", store=f"sqlite:///{db}")
    table = [line for line in result.stdout.splitlines() if re.match(r"^(代码|5\d{5})", line)]
    assert len(table) == 39
    widths = {display_width(line) for line in table}
    assert len(widths) == 1, widths  # every row, CJK names included, ends in the same column


@pytest.mark.slow
def test_ci_true_fails_without_the_neo4j_engine(tmp_path):
    """Without Java on PATH, the Neo4j tests fail under CI=true and are skipped elsewhere."""
    test = "tests/test_store_contract.py::test_division_reads"
    runs = {}
    for ci in ("true", ""):
        env = {**os.environ, "PATH": str(tmp_path), "CI": ci}
        runs[ci] = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "neo4j",
                                   test], env=env, cwd=ROOT, capture_output=True, text=True)
    assert runs["true"].returncode == 1 and "CI=true needs the real Neo4j engine" in runs["true"].stdout
    assert runs[""].returncode == 0 and "1 skipped" in runs[""].stdout


def test_neo4j_has_no_default_password(monkeypatch):
    from graph import open_store
    from graph.errors import StoreUnavailable
    from graph.settings import Settings
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    assert Settings().neo4j_password is None
    with pytest.raises(StoreUnavailable, match="NEO4J_PASSWORD"):
        open_store("neo4j://127.0.0.1:1", settings=Settings())
    monkeypatch.setenv("NEO4J_PASSWORD", "a-secret-of-length")
    assert "a-secret" not in repr(Settings())  # a SecretStr: never printed
    assert not re.search(r"password\s*[:=]\s*[\"'][^\"']{4,}", (ROOT / "graph" / "settings.py").read_text())


def test_chain_prints_chinese_enumerations(chongqing_scenario):
    path, scenario, _ = chongqing_scenario
    issue = scenario.issues[0]
    result = run_cli("chain", issue["issue_id"], store=f"sqlite:///{path}")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert any(zh in first for zh in ("一般", "较重", "严重")) and any(
        zh in first for zh in ("未整改", "整改中", "已整改", "已销号"))
    assert not re.search(r"\b(minor|serious|grave|open|closed)\b", first)


def test_a_load_into_a_store_that_does_not_exist_leaves_no_file_and_says_load_divisions_first(tmp_path):
    missing = tmp_path / "x.db"
    ledger = tmp_path / "台账.csv"
    ledger.write_text("问题编号,村(社区)代码\nQ1,500101001001\n", encoding="utf-8")
    result = run_cli("load", "issues", str(ledger), store=f"sqlite:///{missing}")
    assert result.returncode == 2 and "先加载区划 (xuncha load divisions)" in result.stderr
    assert not missing.exists()


def test_usage_and_argument_errors_are_in_chinese():
    result = run_cli("load")
    assert result.returncode == 2
    assert result.stderr.startswith("用法：xuncha load") and "用法：用法：" not in result.stderr
    assert "xuncha load：缺少参数：table" in result.stderr and "error" not in result.stderr
    result = run_cli("rootcauses", "--level", "province")
    assert "参数 --level：无效的选择 'province'" in result.stderr


@pytest.mark.slow
def test_stats_and_show_print_chinese_only(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    for args in (["stats", "--district", "500101"], ["show", "500101001"]):
        result = run_cli(*args, store=f"sqlite:///{db}")
        assert result.returncode == 0, result.stderr
        # codes, unit ids and function keys are the data's own; no English label around them
        words = set(re.findall(r"(?<![\w-])[A-Za-z]{3,}(?![\w-])", result.stdout))
        assert not words, (args, words)


@pytest.mark.slow
def test_history_shows_times_in_the_offices_zone_and_keeps_utc_in_json(chongqing_template, tmp_path):
    import datetime as dt
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    ledger = tmp_path / "台账.csv"
    ledger.write_text("问题编号,村(社区)代码,巡察轮次,发现日期,问题类别,严重程度,整改状态\n"
                      "Q1,500101001001,2024年第1轮,2024-03-05,低保特困救助,一般,未整改\n", encoding="utf-8")
    assert run_cli("load", "issues", str(ledger), store=f"sqlite:///{db}").returncode == 0
    stored = json.loads(run_cli("history", "Q1", "--json", store=f"sqlite:///{db}").stdout)["history"][0]["recorded_at"]
    utc = dt.datetime.fromisoformat(stored)
    assert utc.utcoffset() == dt.timedelta(0)
    beijing = (utc + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    text = run_cli("history", "Q1", store=f"sqlite:///{db}").stdout
    assert f"{beijing}  未整改" in text


@pytest.mark.slow
def test_packages_with_nothing_to_write_say_so_and_write_nothing(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    result = run_cli("packages", "--xlsx", str(tmp_path / "包.xlsx"), store=f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    assert "没有整改包" in result.stdout and "未写出" in result.stderr
    assert not (tmp_path / "包.xlsx").exists()


@pytest.mark.parametrize("variable, value, expected", [
    ("XUNCHA_SQLITE_BUSY_TIMEOUT", "三十", "数字"), ("XUNCHA_SQLITE_BUSY_TIMEOUT", "-1", "不小于 0.01"),
    ("XUNCHA_SQLITE_BUSY_TIMEOUT", "inf", "不大于 3600"), ("XUNCHA_API_PORT", "80a", "整数"),
    ("XUNCHA_API_PORT", "70000", "不大于 65535"), ("XUNCHA_MAX_UPLOAD_MB", "-5", "大于 0"),
    ("XUNCHA_TIMEZONE", "Asia/Nowhere", "时区"), ("XUNCHA_TIMEZONE", "../../etc/passwd", "时区"),
    ("XUNCHA_TIMEZONE", "+08:60", "时区"), ("XUNCHA_SQLITE_BUSY_TIMEOUT", "1e-9", "0.01")])
def test_a_mistyped_setting_is_named_in_chinese_and_nothing_runs(tmp_path, variable, value, expected):
    result = run_cli("stats", store=f"sqlite:///{tmp_path / 'x.db'}", env={variable: value})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"环境变量 {variable}" in result.stderr and f"值“{value}”" in result.stderr and expected in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("port", ["70000", "-1", "0", "八千"])
def test_serve_refuses_a_port_that_is_not_one(tmp_path, port):
    # 70000 wrapped round to 4464 while the log said 70000; -1 failed after the start
    result = run_cli("serve", "--port", port, store=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2 and "1–65535" in result.stderr and "Traceback" not in result.stderr, result.stderr
