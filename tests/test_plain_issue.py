"""The fast path for plain ledger rows (``plain_issue``) against the pydantic model it stands in for:
on many generated rows, every record the fast path gives is the one ``IssueIn`` gives, and the rows
it declines still meet the model (which then says what is wrong). The pools hold the spellings
offices write, and the near misses the model refuses or reads another way."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from pydantic import ValidationError

from graph.model import IssueIn, IssueRecord, plain_issue

TODAY = dt.date.today()
POOLS = {
    "issue_id": ["Q0000001", "XC-2024-17", "1", "问题12", 17, None],
    "village_code": ["500101001001", "500101001002", "50010100100", "5001010010011", "5.00101E+11",
                     "５００１０１００１００１", 500101001001, "50010100100a", None],
    "round_id": ["2024年第1轮", "R2", 3, None],
    "found_on": ["2024-03-05", "2024/3/5", "2024年3月5日", "2024.03.05", "2024-02-30", "2024-13-01", "05/03/2024",
                 "2024-03-05 00:00:00", dt.date(2024, 3, 5), dt.datetime(2024, 3, 5, 9, 30), 45356,
                 (TODAY + dt.timedelta(days=3)).isoformat(), TODAY.isoformat(), None],
    "category": ["三资管理", "惠民政策落实", 7, None],
    "description": ["村务公开不及时", "=SUM(A1)", None],
    "severity": ["一般", "较重", "严重", "minor", "Serious", "GRAVE", "很严重", 1, None],
    "amount_yuan": ["1000", "0", "1000.5", "1,000", "-5", "inf", "nan", "1e3", "007", "12.", ".5", "1_000",
                    "9" * 20, 1000, 12.5, -1, float("inf"), float("nan"), True, None],
    "status": ["未整改", "整改中", "已整改", "已销号", "复发重开", "open", "Closed", "rectified", "已完成", 2, None],
    "immediate": ["是", "否", "yes", "No", "TRUE", "1", "0", "y", "maybe", True, False, 1, None],
    "due_on": ["2024-06-05", "2024-03-01", "2024/6/5", "不详", dt.date(2024, 6, 5), None],
    "closed_on": [None, "2024-05-01", "2024-03-04", "2024年5月1日", (TODAY + dt.timedelta(days=1)).isoformat(),
                  dt.datetime(2024, 5, 1)],
    "root_unit_hint": ["500101-farm", "区农业农村委", 12, None],
}
EXTRAS = [{}, {"整改佐证": "照片已上传"}, {"备注": 5}, {"备注": " 前后有空格 "}]


def _row(rng: random.Random) -> tuple[dict, dict]:
    # Most values come from the plain end of each pool, so the fast path is exercised as often as
    # the fallback; the rest of the pool supplies the near misses.
    fields = {}
    for column, pool in POOLS.items():
        value = pool[0] if rng.random() < 0.85 else rng.choice(pool)
        if value is not None:
            fields[column] = value
    return fields, rng.choice(EXTRAS)


def _model(fields: dict, extra: dict) -> IssueRecord | None:
    try:
        return IssueRecord.of(IssueIn.model_validate({**fields, "extra": extra}))
    except ValidationError:
        return None


@pytest.mark.parametrize("seed", range(4))
def test_every_fast_record_is_the_models_record(seed):
    rng = random.Random(seed)
    fast_taken = declined_valid = 0
    for _ in range(5_000):
        fields, extra = _row(rng)
        fast = plain_issue(fields, extra)
        expected = _model(fields, extra)
        if fast is not None:
            fast_taken += 1
            assert expected is not None, (fields, extra)
            assert fast == expected, (fields, extra)
            # Equal values of equal types: 1000 and 1000.0 compare equal, an int would not be stored so.
            assert type(fast.amount_yuan) is type(expected.amount_yuan)
            assert type(fast.immediate) is bool and type(fast.found_on) is dt.date
        elif expected is not None:
            declined_valid += 1
    # Both branches were really taken: the fast path on plain rows, the model on the rest.
    assert fast_taken > 300, fast_taken
    assert declined_valid > 50, declined_valid


def test_a_plain_ledger_row_takes_the_fast_path():
    fields = {"issue_id": "Q0000001", "village_code": "500101001001", "round_id": "2024年第1轮",
              "found_on": "2024-03-05", "category": "三资管理", "description": "票据不规范", "severity": "较重",
              "amount_yuan": "1200", "status": "已销号", "immediate": "否", "due_on": "2024-06-05",
              "closed_on": "2024-05-01"}
    record = plain_issue(fields, {})
    assert record is not None and record == _model(fields, {})
    assert record.closed_on == dt.date(2024, 5, 1) and record.amount_yuan == 1200.0


@pytest.mark.parametrize("change", [{"closed_on": None}, {"status": "未整改"}, {"due_on": "2024-03-01"},
                                    {"found_on": (TODAY + dt.timedelta(days=2)).isoformat()},
                                    {"amount_yuan": "-3"}, {"village_code": "5.00101E+11"}])
def test_a_row_breaking_a_rule_is_left_to_the_model(change):
    fields = {"issue_id": "Q1", "village_code": "500101001001", "round_id": "R1", "found_on": "2024-03-05",
              "category": "三资管理", "severity": "一般", "status": "已销号", "closed_on": "2024-05-01"}
    for column, value in change.items():
        if value is None:
            fields.pop(column)
        else:
            fields[column] = value
    assert plain_issue(fields, {}) is None
    assert _model(fields, {}) is None
