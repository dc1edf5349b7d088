"""A tested pair (higher-level area, category), the unit answering for it, and how it is printed."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...model import DEFAULT_MIN_CONFIDENCE  # noqa: F401  (read here by the package's modules)


BASELINE_ZH = {
    "district_peers": "本区县其他已巡察乡镇(街道)",
    "wider_peers": "其他已巡察区县的乡镇(街道)",
    "other_districts": "其他已巡察区县",
    "reference": "问题类别参考比例",
    "last_term": "本区县上一届",
}


@dataclass(slots=True)
class Candidate:
    """One pair (higher-level area, category) with the unit that answers for it; its figures are
    None where it was not tested, so nothing printed can pass for a test's result.

    >>> bearers = [(0, "500101-ca", "民政局", "primary")]
    >>> untested = Candidate("district", "500101", "万州区", "500101", "低保", "500101-ca", "民政局", "primary",
    ...                      bearers, None, None, None, None, None, tested=False, reason="没有参考比例", q_value=None)
    >>> d = untested.as_dict()
    >>> d["p_value"], d["confidence"], d["score"], d["evidence"]["observed"], d["evidence"]["expected"], d["reason"]
    (None, None, None, None, None, '没有参考比例')
    """

    level: str
    area_code: str
    area_name: str
    district_code: str
    category: str
    unit_id: str
    unit_name: str
    duty: str
    bearers: list[tuple]  # (duty order, unit_id, unit name, duty) of every duty bearer of the area
    # None where the pair was not tested: an untested pair has no figures that could pass for a test's
    observed: int | None
    expected: float | None
    p_excess: float | None
    p_recurrence: float | None
    p_value: float | None
    baseline: str | None = None
    tested: bool = True
    reason: str | None = None   # why a pair was not tested
    q_value: float | None = 1.0
    score: float = 0.0
    surfaced: bool = False
    explained_by: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    @property
    def confidence(self) -> float | None:
        return None if self.q_value is None else 1.0 - self.q_value

    def as_dict(self) -> dict:
        tested = self.tested
        evidence = {
            "observed": self.observed, "expected": round(self.expected, 3) if tested else None,
            "ratio": round(self.observed / self.expected, 3) if tested and self.expected > 0 else None,
            "p_excess": _sig(self.p_excess) if tested else None,
            "p_recurrence": None if self.p_recurrence is None else _sig(self.p_recurrence),
            "baseline": self.baseline, "baseline_zh": BASELINE_ZH.get(self.baseline or "", None),
            **self.evidence,
        }
        return {
            "unit_id": self.unit_id, "unit_name": self.unit_name, "level": self.level, "duty": self.duty,
            "area_code": self.area_code, "area_name": self.area_name, "district_code": self.district_code,
            "category": self.category, "score": round(self.score, 4) if tested else None,
            "p_value": _sig(self.p_value) if tested else None, "q_value": _sig(self.q_value) if tested else None,
            "confidence": round(self.confidence, 6) if tested else None, "surfaced": self.surfaced,
            "tested": self.tested, "reason": self.reason, "explained_by": self.explained_by,
            "responsible_units": [{"unit_id": u[1], "unit_name": u[2], "duty": u[3]} for u in self.bearers],
            "evidence": evidence,
        }


def _sig(x: float) -> float:
    """Round to 6 significant digits, so both stores print the same figures.

    >>> _sig(0.000123456789), _sig(31.0 / 3)
    (0.000123457, 10.3333)
    """
    return float(f"{x:.6g}")


def attribution_notes(cause: dict) -> list[str]:
    """How attribution settled a pair, in the words the plain output and the reports' 说明 print
    (from :meth:`Candidate.as_dict`): beside the townships that stand out in a district, what the
    rest of the district shows and the level it was held to; for a withdrawn pair, the pairs that
    explain it, with their p-values and its own.

    >>> district = {"p_value": 1e-6, "explained_by": [],
    ...             "evidence": {"p_without_local_townships": 0.0046, "rest_discovery_level": 0.000118}}
    >>> attribution_notes(district)
    ['除单独显著的乡镇(街道)外，本区县其余部分 p=0.0046（显著性水平 p≤0.00012）']
    >>> township = {"p_value": 2.2e-9, "explained_by": ["500151-ca"], "evidence": {"explaining_p_values": {"500151": 3.14e-12}}}
    >>> attribution_notes(township)
    ['已归因于 500151-ca（p 值 3.1e-12；本项 p=2.2e-09）']
    >>> shared = {"p_value": 2e-5, "explained_by": [], "evidence": {"p_without_local_townships": 0.47,
    ...           "rest_discovery_level": 0.01, "shared_by_townships": ["500153005", "500153110"]}}
    >>> attribution_notes(shared)[1]
    '同类问题在本区县 2 个乡镇(街道)突出（500153005、500153110），其余部分不明显：按区县层面共性问题归因，请同时核实这些乡镇(街道)'
    """
    e, notes = cause["evidence"], []
    if "p_without_local_townships" in e:  # set together with the level (.attribution.attribute_levels)
        notes.append(f"除单独显著的乡镇(街道)外，本区县其余部分 p={e['p_without_local_townships']:.2g}"
                     f"（显著性水平 p≤{e['rest_discovery_level']:.2g}）")
    if e.get("shared_by_townships"):
        towns = e["shared_by_townships"]
        notes.append(f"同类问题在本区县 {len(towns)} 个乡镇(街道)突出（{'、'.join(towns)}），其余部分不明显："
                     "按区县层面共性问题归因，请同时核实这些乡镇(街道)")
    if cause.get("explained_by"):
        explaining = "、".join(f"{p:.2g}" for p in e.get("explaining_p_values", {}).values())
        notes.append(f"已归因于 {'、'.join(cause['explained_by'])}（p 值 {explaining}；本项 p={cause['p_value']:.2g}）")
    return notes
