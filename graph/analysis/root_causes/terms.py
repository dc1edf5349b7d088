"""The earlier term (上届) as a baseline of its own: each area against its own share of the category
in the term before, moved by as much as the category moved elsewhere (the other districts, or the
other townships of its district). Between areas, a district that has always differed for local
reasons looks like a cause; against its own history it does not, and a cause new this term does.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..stats import excess_sf_array
from .baselines import Baseline, _posterior
from .dispersion import _design_effect
from .candidate import Candidate, _sig
from .spread import spread_apart
from .tally import Tally
from .tests import excess_moments, kind_weighted_moments, recurrence_p_values


def _quantile(dates: Mapping[dt.date, int], q: float) -> dt.date:
    """The date by which a share ``q`` of a term's problems were found (0.5: the median, the lower one
    of an even count)."""
    at, seen = q * sum(dates.values()), 0
    for day in sorted(dates):
        seen += dates[day]
        if seen >= at:
            return day
    return max(dates)


def order_terms(dates: Mapping[str, Mapping[dt.date, int]]) -> list[str]:
    """Terms (届次 labels, any text) from the earliest to the latest, by the median 发现日期 of their
    problems (``dates``: each term's problems by date, ``GraphStore.term_dates``). Not by the first:
    one problem dated years early (a typo in Excel) put the latest term first.

    >>> d = dt.date
    >>> order_terms({"第十四届": {d(2022, 3, 1): 40, d(2017, 1, 5): 1}, "第十三届": {d(2017, 4, 2): 30}})
    ['第十三届', '第十四届']
    """
    medians = {term: _quantile(by_date, 0.5) for term, by_date in dates.items() if by_date}
    return sorted(medians, key=lambda t: (medians[t], t))


# A term with fewer problems than this share of the largest term's is said apart (a label typed
# differently in a few rows makes a term of its own, and the latest one is analysed by default).
SMALL_TERM = 0.01
# A problem of one term dated inside the central 80 % of its neighbour's dates is in that term's time.
CORE = (0.1, 0.9)


def term_summary(dates: Mapping[str, Mapping[dt.date, int]]) -> list[dict]:
    """Each term in order: its label, problems, first and last 发现日期, whether it is small beside
    the largest term (``SMALL_TERM``), and how many of its problems are dated inside a neighbouring
    term's time (its central 80 %: a term that runs a few weeks into the next, or one still in
    progress, is not taken for a slip); small terms are neither checked nor checked against.

    >>> d = dt.date
    >>> [(t["term"], t["problems"], t["misdated"], t["small"]) for t in term_summary(
    ...     {"十四届": {d(2023, 3, 1): 40, d(2024, 3, 1): 40, d(2017, 1, 5): 1},
    ...      "十三届": {d(2017, 4, 2): 30, d(2019, 4, 2): 30, d(2021, 12, 20): 30, d(2023, 9, 1): 2}})]
    [('十三届', 92, 2, False), ('十四届', 81, 1, False)]
    """
    order = order_terms(dates)
    largest = max((sum(dates[t].values()) for t in order), default=0)
    small = {t for t in order if sum(dates[t].values()) < SMALL_TERM * largest}
    checked = [t for t in order if t not in small]
    core = {t: (_quantile(dates[t], CORE[0]), _quantile(dates[t], CORE[1])) for t in checked}
    out = []
    for term in order:
        by_date = dates[term]
        misdated, after, before = 0, None, None
        if term in checked:
            i = checked.index(term)
            after = core[checked[i - 1]][1] if i > 0 else None               # the earlier term's late core
            before = core[checked[i + 1]][0] if i + 1 < len(checked) else None  # the later term's early core
            misdated = sum(n for day, n in by_date.items() if (after is not None and day < after)
                           or (before is not None and day > before))
        out.append({"term": term, "problems": sum(by_date.values()), "first": min(by_date), "last": max(by_date),
                    "small": term in small, "misdated": misdated, "after": after, "before": before})
    return out


def misdated_notice(summary: list[dict]) -> str | None:
    """What the CLI (on stderr) and the API (``notice``) say of problems dated in another term's
    time, and of terms much smaller than the others.

    >>> d = dt.date
    >>> misdated_notice([{"term": "十三届", "misdated": 0, "problems": 30, "small": False},
    ...                  {"term": "十四届", "misdated": 1, "after": d(2020, 9, 1), "before": None, "problems": 41,
    ...                   "small": False}]).split("：请核对")[0]
    '注意：届次 十四届 有 1 个问题的发现日期早于 2020-09-01，落在相邻一届的时间内'
    >>> misdated_notice([{"term": "第2届", "misdated": 0, "problems": 21725, "small": False},
    ...                  {"term": "第二届", "misdated": 0, "problems": 15, "small": True}]).split("：请核对")[0]
    '注意：届次 第二届 只有 15 个问题（最大的一届 21,725 个）'
    """
    parts = []
    largest = max((t["problems"] for t in summary), default=0)
    for t in summary:
        if t.get("small"):
            parts.append(f"届次 {t['term']} 只有 {t['problems']:,} 个问题（最大的一届 {largest:,} 个）")
            continue
        if not t["misdated"]:
            continue
        bounds = "或".join(b for b in ((f"早于 {t['after']:%Y-%m-%d}" if t.get("after") else ""),
                                      (f"晚于 {t['before']:%Y-%m-%d}" if t.get("before") else "")) if b)
        parts.append(f"届次 {t['term']} 有 {t['misdated']:,} 个问题的发现日期{bounds}，落在相邻一届的时间内")
    if not parts:
        return None
    return ("注意：" + "；".join(parts) + "：请核对这些问题的“届次”和“发现日期” "
            "(problems dated in another term's time, or a term of a few problems)")


@dataclass
class TermTest:
    """Per area and category (a × c) of the current term: the count, its null mean and variance
    against the area's own earlier term, the p-value (NaN where the area or the category has no
    problems in one of the terms), and the earlier term's count and problems."""

    observed: np.ndarray
    expected: np.ndarray
    p_value: np.ndarray
    earlier_observed: np.ndarray
    earlier_problems: np.ndarray
    baseline: Baseline          # the shares the test used (a × k × c), drift included


def aligned(earlier: Tally, current: Tally, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The earlier term's sums ``x`` (a × k × c), ``n`` and ``nn`` (a × k) in the current term's
    areas and categories; zero where an area or category had none then."""
    areas = current.townships if level == "township" else current.districts
    old_areas = earlier.townships if level == "township" else earlier.districts
    x, n, nn = ((earlier.x, earlier.n, earlier.nn) if level == "township"
                else (earlier.district_x, earlier.district_n, earlier.district_nn))
    ai = {a: i for i, a in enumerate(old_areas)}
    ci = {c: i for i, c in enumerate(earlier.categories)}
    out_x = np.zeros((len(areas),) + x.shape[1:2] + (len(current.categories),))
    out_n, out_nn = np.zeros((len(areas), n.shape[1])), np.zeros((len(areas), n.shape[1]))
    rows = [(i, ai[a]) for i, a in enumerate(areas) if a in ai]
    cols = [(j, ci[c]) for j, c in enumerate(current.categories) if c in ci]
    if rows and cols:
        new_r, old_r = map(list, zip(*rows))
        new_c, old_c = map(list, zip(*cols))
        out_x[np.ix_(new_r, range(x.shape[1]), new_c)] = x[np.ix_(old_r, range(x.shape[1]), old_c)]
        out_n[new_r], out_nn[new_r] = n[old_r], nn[old_r]
    return out_x, out_n, out_nn


def shrunk_trends(trend: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Each category's move between the terms (k × c: the median of the other districts' ratios),
    shrunk toward the move common to every category of its kind by as much as the categories'
    moves differ beyond their noise (``noise``: each log ratio's variance; NaN where none):
    empirical Bayes on the log scale, as :func:`.spread.category_spreads` shrinks spreads. With a
    handful of districts a category's median ratio is uncertain by ±10 % or more, and its noise
    went straight into the expected count (a ×2.6 cause, 124 found: 70.4 expected and p 1e-3 with
    its category's own median move of 1.14, 63.3 and p 1.5e-4 with the move shrunk to 1.04); a
    category that did move, beyond that noise, keeps its own move.

    >>> noisy = np.array([[1.14, 0.9, 1.05, 0.95, 1.1, 0.88]])          # noise only (±10 %)
    >>> shrunk_trends(noisy, np.full(noisy.shape, 0.01)).round(2).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    >>> moved = np.array([[1.6, 0.7, 1.0, 1.0, 1.3, 0.75]])             # categories that moved
    >>> shrunk_trends(moved, np.full(moved.shape, 0.01)).round(2).tolist()
    [[1.51, 0.73, 1.0, 1.0, 1.26, 0.78]]
    """
    out = np.array(trend, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_trend = np.log(out)
        for k in range(out.shape[0]):
            usable = np.isfinite(log_trend[k]) & np.isfinite(noise[k]) & (noise[k] > 0)
            if usable.sum() < 3:
                continue
            t, v = log_trend[k, usable], noise[k, usable]
            centre = float((t / v).sum() / (1 / v).sum())
            between = max(0.0, float(np.mean((t - centre) ** 2 - v)))
            out[k, usable] = np.exp(centre + between / (between + v) * (t - centre))
    return out


def term_test(current: Tally, earlier: Tally, rho: np.ndarray, level: str) -> TermTest:
    """Each area's count this term against its own share last term, times the trend of the other
    areas it is compared with: a township's other townships of its district together
    (``share_then × share_rest_now / share_rest_then``); with three districts or more, the median
    of the other districts' own ratios (one district's cause moves no other's baseline). The earlier share is uncertain
    (its posterior, its villages' clustering ``rho``); with three districts or more, the districts'
    drift between terms beyond that (a share that wanders for no cause) is estimated without the
    district tested and allowed (:func:`.spread.spread_apart`). With one district there is no
    trend to take out: the office's own history is the baseline as it stands.

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> from .tally import tally_ledger
    >>> def term(low):  # one district, one township: 低保 ``low`` of 100 problems
    ...     cells = [LedgerCell("500101001", "500101", "village", "低保", 10, low, low, low * 10, low, 0, 0, 0),
    ...              LedgerCell("500101001", "500101", "village", "作风", 10, 100 - low, 100 - low,
    ...                         (100 - low) * 10, 100 - low, 0, 0, 0)]
    ...     return tally_ledger(LedgerFacts(cells, [Exposure("500101001", "500101", "village", 10, 10, 100, 1000)],
    ...                                     [], [], [], []))
    >>> t = term_test(term(30), term(10), np.zeros(2), "district")
    >>> int(t.observed[0, 0]), round(float(t.expected[0, 0]), 1), bool(t.p_value[0, 0] < 1e-3)
    (30, 10.4, True)
    >>> bool(term_test(term(11), term(10), np.zeros(2), "district").p_value[0, 0] > 0.3)  # as before
    True
    """
    x_then, n_then, nn_then = aligned(earlier, current, level)
    if level == "township":
        x, n, nn = current.x, current.n, current.nn
        group = current.district
    else:
        x, n, nn = current.district_x, current.district_n, current.district_nn
        group = np.zeros(len(current.districts), dtype=int)

    def rest(a):  # the area's group without it
        total = np.zeros((group.max() + 1,) + a.shape[1:])
        np.add.at(total, group, a)
        return total[group] - a

    share_then, var_then = _posterior(x_then, n_then, nn_then, rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        now_rest = (rest(x) + 0.5) / (rest(n)[:, :, None] + 1.0)
        then_rest = (rest(x_then) + 0.5) / (rest(n_then)[:, :, None] + 1.0)
        has_rest = ((rest(n) > 0) & (rest(n_then) > 0))[:, :, None]
        trend = np.where(has_rest, now_rest / then_rest, 1.0)
        if level == "district" and len(n) >= 3:
            # The districts' trend is the median of the other districts' own: pooled, a cause in
            # one district would lift every other's baseline and, as a deficit everywhere else,
            # the drift allowed for its own test (216 found against 106 expected, p 0.002).
            both = (n > 0) & (n_then > 0)
            own = np.where(both[:, :, None], ((x + 0.5) / (n[:, :, None] + 1.0))
                           / ((x_then + 0.5) / (n_then[:, :, None] + 1.0)), np.nan)
            # each district's log ratio is uncertain by its two counts (their villages' clustering)
            noise = (_design_effect(n, nn, rho) / (x + 0.5) + _design_effect(n_then, nn_then, rho) / (x_then + 0.5))
            for a in range(len(n)):
                others = np.delete(own, a, axis=0)
                counted = np.isfinite(others).sum(axis=0) >= 2
                median = np.nanmedian(np.where(counted[None], others, 1.0), axis=0)
                # the median of m ratios: π/2 times a ratio's variance over m
                with warnings.catch_warnings():  # a category no other district has: NaN, left out
                    warnings.simplefilter("ignore", RuntimeWarning)
                    typical = np.nanmedian(np.where(np.isfinite(others), np.delete(noise, a, axis=0), np.nan), axis=0)
                spread_of = np.where(counted, np.pi / 2 * typical / np.maximum(np.isfinite(others).sum(axis=0), 1), np.nan)
                trend[a] = np.where(counted, shrunk_trends(median, spread_of), trend[a])
    share = np.clip(share_then * trend, 1e-9, 1 - 1e-9)
    usable = (n > 0) & (n_then > 0)
    base = Baseline(share, var_then * trend ** 2, usable, ["last_term"] * len(n), [None] * len(n))
    observed, trials, mean, variance = excess_moments(x, n, nn, base, rho)
    if level == "district" and len(current.districts) >= 3:
        with np.errstate(invalid="ignore", divide="ignore"):
            z2 = np.where(variance > 0, (observed - mean) ** 2 / variance, np.nan)
            p0 = np.where(trials > 0, mean / trials, 0.0)
            size = np.where(variance > 0, trials ** 2 * p0 * (1 - p0) / variance, 0.0)
        drift = spread_apart(z2, size, mean)  # a × c, relative to π(1 − π)
        base.spread_var = drift[:, None, :] * share * (1 - share)
        base.share_var = base.share_var + base.spread_var
        observed, trials, mean, variance = excess_moments(x, n, nn, base, rho)
    # the kinds of village weighted as a cause new this term is best seen, as against the peers
    p = excess_sf_array(*kind_weighted_moments(x, n, nn, base, rho))
    testable = usable.any(axis=1)[:, None] & (mean > 0) & (x_then.sum(axis=1) + x.sum(axis=1) > 0)
    return TermTest(observed, mean, np.where(testable, p, np.nan), x_then.sum(axis=1), n_then.sum(axis=1), base)


def past_terms(current: Tally, earlier: Tally, rho: np.ndarray) -> dict:
    """Both levels' tests against the earlier term (:func:`term_test`), and each district's
    recurrence against its own last term's (:func:`recurrence_since`)."""
    history = {level: term_test(current, earlier, rho, level) for level in ("district", "township")}
    history["district_recurrence"] = recurrence_since(current, earlier)
    return history


def recurrence_since(current: Tally, earlier: Tally) -> np.ndarray:
    """Per district and category (d × c), the villages where a rectified category came back this
    term against the same district's last term (one-sided Fisher's exact test, as against other
    districts); NaN where either term rectified nothing. Against other districts, a district
    where a category is commoner for local reasons also sees it found again more often (a village
    with more of it is likelier to show it again): its own last term has the same local reasons.

    >>> from types import SimpleNamespace as T
    >>> now = T(districts=["500101"], categories=["低保"], rectified=np.array([[40.0]]),
    ...         recurred=np.array([[20.0]]), district=np.array([0]))
    >>> then = T(districts=["500101"], categories=["低保"], rectified=np.array([[40.0]]),
    ...          recurred=np.array([[4.0]]), district=np.array([0]))
    >>> bool(recurrence_since(now, then)[0, 0] < 1e-4)
    True
    """
    def by_district(tally, array):
        out = np.zeros((len(tally.districts), array.shape[1]))
        np.add.at(out, tally.district, array)
        return out

    d_then = {d: i for i, d in enumerate(earlier.districts)}
    c_then = {c: j for j, c in enumerate(earlier.categories)}
    rect_then, recur_then = by_district(earlier, earlier.rectified), by_district(earlier, earlier.recurred)
    rect_old = np.zeros((len(current.districts), len(current.categories)))
    recur_old = np.zeros_like(rect_old)
    for i, d in enumerate(current.districts):
        for j, c in enumerate(current.categories):
            if d in d_then and c in c_then:
                rect_old[i, j], recur_old[i, j] = rect_then[d_then[d], c_then[c]], recur_then[d_then[d], c_then[c]]
    return recurrence_p_values(by_district(current, current.rectified), by_district(current, current.recurred),
                               rect_old, recur_old)


def merged_baseline(peers: Baseline, history: Baseline, own: np.ndarray) -> Baseline:
    """The districts' baseline as decided: their last term for the pairs that have one (``own``,
    d × c), the peers' elsewhere; what the attribution of an excess to a level re-tests against."""
    share = np.where(own[:, None, :], history.share, peers.share)
    share_var = np.where(own[:, None, :], history.share_var, peers.share_var)
    spreads = [b.spread_var if b.spread_var is not None else np.zeros(b.share.shape) for b in (history, peers)]
    spread_var = np.where(own[:, None, :], *spreads)
    return Baseline(share, share_var, peers.usable | history.usable, peers.label, peers.reason, spread_var)


def add_history(c: Candidate, history: dict, level: str, a: int, j: int, terms: tuple[str, str] | None) -> None:
    """The evidence of both baselines where both exist: the last term's count and problems, the
    expected count and p-value against it, and (a district judged against its last term) against
    its peers."""
    test: TermTest = history[level]
    c.evidence["term"], c.evidence["last_term"] = terms if terms else (None, None)
    c.evidence["last_term_observed"] = int(test.earlier_observed[a, j])
    c.evidence["last_term_problems"] = int(test.earlier_problems[a])
    p = test.p_value[a, j]
    c.evidence["expected_vs_last_term"] = None if np.isnan(p) else round(float(test.expected[a, j]), 3)
    c.evidence["p_excess_vs_last_term"] = None if np.isnan(p) else _sig(float(p))
    if level == "district" and c.baseline == "last_term":
        expected, p_peers, has_peers = history["peers"]
        c.evidence["expected_vs_peers"] = round(float(expected[a, j]), 3) if has_peers[a] else None
        c.evidence["p_excess_vs_peers"] = _sig(float(p_peers[a, j])) if has_peers[a] else None


def tell_terms_apart(candidates: list[Candidate], earlier: list[Candidate], min_confidence: float) -> None:
    """Say in each pair's reason which of three it is, where the last term tells:

    * **new this term** (本届新出现): surfaced, and above its own last term;
    * **persisting** (上届已存在): above its peers in both terms and surfaced as a root cause last
      term — a root the last term's rectification did not remove. A township is surfaced for it
      (its peers decide); a district no higher than its own last term is not surfaced again as
      this term's cause, and says so; one surfaced last term that this term shows above neither its
      history nor its peers says whether it fell, to be checked, not read as fixed;
    * **a local difference that was always there** (本地长期差异): above its peers in both terms,
      not surfaced last term (the spread between districts allowed it), not above its own
      history: not surfaced.
    """
    alpha = 1 - min_confidence
    before = {(c.level, c.area_code, c.category): c for c in earlier if c.tested}
    for c in candidates:
        if not c.tested or "last_term_observed" not in c.evidence:
            continue
        then = before.get((c.level, c.area_code, c.category))
        raised_then = then is not None and (then.surfaced or (then.p_excess is not None and then.p_excess <= alpha))
        p_then = f"上届 p={_sig(then.p_excess):.2g}" if then is not None and then.p_excess is not None else "上届无检验"
        # where the last term's surfacing is the claim, the test that surfaced it (excess or
        # recurrence, combined) and its confidence: its excess alone may not have stood
        surfaced_then = (f"上届置信度 {then.confidence:.4f}，p={_sig(then.p_value):.2g}"
                         if then is not None and then.surfaced and then.confidence is not None else p_then)
        p_own = c.evidence.get("p_excess_vs_last_term")
        counts = (f"上届 {c.evidence['last_term_observed']} 个（共 {c.evidence['last_term_problems']} 个问题），"
                  f"本届 {c.observed} 个")
        if c.level == "district" and c.baseline == "last_term":
            p_peers = c.evidence.get("p_excess_vs_peers")
            if c.surfaced and c.p_excess is not None and c.p_excess <= alpha:
                note = f"本届新出现：与本区县上届相比明显增加（{counts}，按上届比例期望 {c.expected:.1f} 个）"
            elif c.surfaced:
                note = f"本届整改后复发比上届明显增多（{counts}）"
            elif p_peers is not None and p_peers <= alpha and then is not None and then.surfaced:
                note = (f"上届已存在、本届仍在：上届已作为根源浮现（{surfaced_then}），本届仍高于其他区县（p={p_peers:.2g}），"
                        f"与上届相比没有增加（{counts}）：根源未整改到位，不作为本届新根源")
            elif p_peers is not None and p_peers <= alpha and raised_then:
                note = (f"本地长期差异：本届和上届都高于其他区县（{p_then}，本届 p={p_peers:.2g}），"
                        f"与本区县上届相比没有增加（{counts}），不作为本届根源")
            elif then is not None and then.surfaced:
                # a root of the last term that this term shows neither above its history nor above its
                # peers at the level: not a cause of this term, but not one to read as fixed either
                fell = c.observed < c.expected - 2 * math.sqrt(max(c.expected, 1.0))
                peers = f"本届与其他区县相比 p={p_peers:.2g}，未达显著" if p_peers is not None else "本届没有同届比较"
                note = (f"上届已作为根源浮现（{surfaced_then}）；本届" + ("比上届明显减少" if fell else "与上届相比没有明显减少")
                        + f"（{counts}，按上届比例期望 {c.expected:.1f} 个），{peers}"
                        + ("：整改可能见效，请核实" if fell else "：根源可能未整改到位，请核实"))
            else:
                continue
        elif c.surfaced:
            if raised_then:
                note = f"上届已存在、本届仍在：上届已高于同级（{p_then}），根源未整改到位（{counts}）"
            elif p_own is not None and p_own <= alpha:
                note = f"本届新出现：上届不高于同级，本届明显增加（{counts}）"
            else:
                continue
        else:
            continue
        c.reason = f"{c.reason}；{note}" if c.reason else note
