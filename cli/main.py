"""``xuncha``: the command line. Each command parses input, calls ``graph``/``loaders`` and
formats the result, as text for people or ``--json`` for programs. Errors go to stderr; exit code 2
for bad input, 1 for other failures."""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import unicodedata
from contextlib import closing

from graph import open_store, open_workflow
from graph.access import EVERY_DISTRICT, Scope
from graph.errors import InputError, RowError, XunchaError
from graph.model import DEFAULT_MIN_CONFIDENCE, LEVEL_ZH, VILLAGE_KIND_ZH, Severity, Status
from graph.store import WriteSummary


def _finite(value):
    """JSON has no NaN or Infinity: a non-finite number is printed as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _print_json(value) -> None:
    json.dump(_finite(value), sys.stdout, ensure_ascii=False, indent=2, default=str, allow_nan=False)
    sys.stdout.write("\n")


TABLE_ZH = {"divisions": "区划", "categories": "问题类别", "units": "单位", "duties": "权责", "issues": "问题",
            "functions": "职能", "base": "村(社区)基础信息", "key_villages": "乡镇推荐重点村名单",
            "inspections": "巡察记录", "backcheck": "抽查结果"}


def _summary_line(label: str, summary) -> str:
    return (f"{TABLE_ZH.get(label, label)}：新增 {summary.inserted:,}，更新 {summary.updated:,}，"
            f"未变 {summary.unchanged:,}")


def _reading(args):
    """The store for a reading command: a missing store is an error, and nothing is created."""
    return open_store(args.store, create=False)


def _existing(args, writing: bool):
    """An existing store, to write to (read-write) or only to read (:func:`_reading`)."""
    return open_store(args.store, create=False, read_only=False) if writing else _reading(args)


def _district(store, code: str | None) -> str | None:
    """A --district that names a loaded district, by its code or its full name (万州区), or exit 2.
    A name that several provinces give a district (鼓楼区) is refused with their codes."""
    if code is None:
        return None
    from graph import service
    found = service.district_code(store, code, "--district")
    if found is not None:
        return found
    raise InputError(RowError("--district", None, None, code,
                              "已加载的 6 位区县代码或区县全名 (a loaded district code or name)；可用 xuncha stats 查看"))


def _port(text: str) -> int:
    """--port: a TCP port, 1–65535 (70000 wrapped round to 4464; -1 failed after the start)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"应为 1–65535 的端口号，不是 “{text}”")
    return value


def _count(text: str) -> int:
    """--top N: a whole number of at least one."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"应为正整数（如 10），不是 “{text}”")
    return value


def _confidence(text: str) -> float:
    """--min-confidence: a probability, 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"应为 0 到 1 之间的数（如 0.95），不是 “{text}”")
    return value


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: two for each wide (CJK) character.

    >>> display_width("万州区"), display_width("abc")
    (6, 3)
    """
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text, width: int, right: bool = False) -> str:
    text = str(text)
    space = " " * max(width - display_width(text), 0)
    return space + text if right else text + space


# -- commands -------------------------------------------------------------------------------------
def cmd_load(args) -> int:
    from loaders import tables
    from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
    # Only divisions start a store: any other table into a store that does not exist is refused,
    # and no empty file is left behind (the message says to load divisions first).
    without_term = None
    with closing(open_store(args.store, create=args.table == "divisions", read_only=False)) as store:
        if args.table == "divisions":
            summary = load_divisions(store, args.path or DEFAULT_DIVISIONS, province=args.province,
                                     district=args.district, show_progress=not args.json)
        elif args.table == "base":
            from loaders.base_data import load_base_data
            if not args.path or not args.district:
                raise InputError("xuncha load base 文件路径 --district 区县代码 (the base-data table and its district)")
            summary = load_base_data(store, args.path, _district(store, args.district))
        else:
            if not args.path:
                raise InputError(f"xuncha load {args.table} 文件路径 (the file to load)")
            if args.province or (args.district and args.table != "issues"):
                raise InputError("--province 只用于加载区划；--district 只用于区划和问题 (divisions and issues only)")
            # A district's ledger writes that district's problems only: the API's ownership rule.
            scope = Scope(_district(store, args.district)) if args.district else EVERY_DISTRICT
            summary = tables.load_table(store, args.table, args.path, show_progress=not args.json,
                                        new_category=args.new_category, new_function=args.new_function,
                                        allow_reopen=args.allow_reopen, scope=scope)
        terms, misdated = [], None
        if args.table == "issues":
            # A 届次 cell left blank in Excel, a problem dated in another term's time: told now, at
            # the load, not only at the analysis.
            from graph import service
            dates = store.term_dates()
            without_term = service.without_term_notice(service.term_notice(store, None, scope.district, dates)[1])
            terms, misdated = service.terms(store, dates)
    for notice in (without_term, misdated):  # on stderr: --json's output stays a document
        if notice:
            print(notice, file=sys.stderr)
    if args.json:
        _print_json({"table": args.table, **summary.as_dict(),
                     **({"terms": [_term_json(t) for t in terms]} if terms else {})})
    else:
        if summary.source:
            print(f"读取：{summary.source['described']}")
        print(_summary_line(args.table, summary))
        if terms:
            print("届次：" + "；".join(f"{t['term']} {t['problems']:,} 个问题（{t['first']:%Y-%m-%d} 至 {t['last']:%Y-%m-%d}）"
                                     for t in terms))
    return 0


def _term_json(term: dict) -> dict:
    """A term of ``service.terms`` as JSON: dates as ISO text."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in term.items()}


def cmd_stats(args) -> int:
    with closing(_reading(args)) as store:
        counts = store.counts(_district(store, args.district))
    if args.json:
        _print_json(counts)
        return 0
    levels = counts["by_level"]
    print("区划：" + "，".join(f"{LEVEL_ZH[k]} {v:,}" for k, v in levels.items()))
    print("村级单位：" + "，".join(f"{VILLAGE_KIND_ZH[k]} {v:,}" for k, v in counts["villages_by_kind"].items()))
    print(f"单位 {counts['units']:,}，问题类别 {counts['categories']:,}，权责 {counts['duties']:,}，"
          f"问题 {counts['issues']:,}")
    # Padded by display width: a CJK name takes two columns a character.
    name_width = max([display_width(d["name"]) for d in counts["districts"]] + [4]) + 2
    print(pad("代码", 8) + pad("区县", name_width) + "".join(pad(h, 8, True) for h in ("乡镇", "村", "社区", "合计")))
    for d in counts["districts"]:
        print(pad(d["code"], 8) + pad(d["name"], name_width) + "".join(
            pad(f"{d[k]:,}", 8, True) for k in ("townships", "villages", "communities", "village_level_units")))
    return 0


def cmd_show(args) -> int:
    with closing(_reading(args)) as store:
        division = store.division(args.code)
        if division is None:
            found = store.find_divisions(args.code, limit=11)
            exact = [d for d in found if d.name == args.code]
            if len(exact) == 1 or len(found) == 1:
                division = exact[0] if exact else found[0]
            elif not found:
                raise InputError(RowError("show", None, None, args.code,
                                          "已加载区划的代码或名称 (a loaded division code or name)"))
            else:
                listed = "；".join(f"{d.code} {d.name}" for d in found[:10])
                raise InputError(RowError("show", None, None, args.code,
                                          f"唯一的区划；匹配的有 {len(found)}{'+' if len(found) > 10 else ''} 个："
                                          f"{listed}；请用代码 (a unique division)"))
        from graph import service
        ancestors = service.ancestors(store, division)
        children = store.children_counts(division.code)
        units = store.units([division.code])
    result = {"code": division.code, "name": division.name, "level": division.level, "kind": division.kind,
              "ancestors": [{"code": a.code, "name": a.name, "level": a.level} for a in ancestors],
              "children": children, "units": [u.__dict__ for u in units]}
    if args.json:
        _print_json(result)
        return 0
    path = " > ".join(a.name for a in ancestors)
    print(f"{division.name} ({division.code}, {LEVEL_ZH[division.level]}{'·' + division.kind if division.kind else ''})")
    if path:
        print(f"上级：{path}")
    for level, n in children.items():
        print(f"下辖{LEVEL_ZH.get(level, level)}：{n:,}")
    for u in units:
        print(f"单位：{u.unit_id} {u.name}（{u.function}）")
    return 0


def cmd_catalog(args) -> int:
    from loaders import catalog
    with closing(open_store(args.store, create=args.action != "show")) as store:
        if args.action == "load":
            result = {name: s.as_dict() for name, s in catalog.load_default_catalog(store).items()}
        elif args.action == "units":
            districts = args.district or [d.code for d in store.divisions("district")]
            if not districts:
                raise InputError("请先加载区划：xuncha load divisions (load divisions first)")
            units = [u for d in districts for u in catalog.catalog_units(store, d)]
            result = {"units": store.upsert_units(units).as_dict(), "districts": len(districts)}
        else:
            result = {"functions": [f.__dict__ for f in catalog.default_functions()],
                      "categories": [c.model_dump(exclude={"extra"}) for c in store.categories()],
                      "duties": [d.__dict__ for d in store.duties()]}
    if args.json or args.action == "show":
        _print_json(result)
    else:
        for name, summary in result.items():
            if isinstance(summary, dict):
                print(_summary_line(name, WriteSummary(**summary)))
    return 0


def cmd_generate(args) -> int:
    from loaders.scenario import generate_scenario
    with closing(_reading(args)) as store:
        scenario = generate_scenario(store, province=args.province, districts=args.district, seed=args.seed,
                                     rounds=args.rounds, noise=args.noise, causes=args.causes,
                                     every_round=args.every_round, revisit=args.revisit, kappa=args.kappa,
                                     coverage=args.coverage, township_share=args.township_share,
                                     office_categories=args.office_categories, terms=args.terms,
                                     spread=args.spread)
    paths = scenario.write(args.out)
    result = {**scenario.meta, "files": {k: str(v) for k, v in paths.items()}}
    if args.json:
        _print_json(result)
    else:
        print(f"模拟台账：{result['villages']:,} 个村(社区)的 {result['issues']:,} 个问题，"
              f"植入 {result['causes']} 个根源，已写入 {args.out}")
    return 0


def cmd_chain(args) -> int:
    from graph import service
    with closing(_reading(args)) as store:
        result = service.chain(store, args.issue_id)
    if args.json:
        _print_json(result)
        return 0
    issue = result["issue"]
    print(f"问题 {issue['issue_id']}：{issue.get('description', '')}（{issue['category']}，"
          f"{Severity(issue['severity']).zh}，{Status(issue['status']).zh}）")
    for level in result["levels"]:
        units = "；".join(f"{u['unit_name']}[{u['duty_zh']}]" for u in level["units"]) or "—"
        print(f"  {LEVEL_ZH.get(level['level'], level['level'])} {level['name']} ({level['code']}): {units}")
    if result["hint"]:
        hint = result["hint"]
        print(f"  巡察组提示根源单位: {hint['unit_name'] or hint['unit_id']}"
              f"{'' if hint['bears_duty'] else '（不在该类别权责清单内）'}")
    return 0


def _analysis_options(args, store) -> dict:
    options = {"district": _district(store, args.district), "level": args.level, "top": args.top,
               "min_confidence": args.min_confidence, "include_all": args.all}
    if getattr(args, "term", None) is not None:
        options["term"] = args.term.strip()  # a label pasted from Excel often carries a trailing space
    return options


def _nothing_found(args, district: str | None) -> str:
    """Why an analysis lists nothing: no ledger for the district asked, or nothing above the threshold."""
    from graph import service
    if district is not None:
        with closing(_reading(args)) as store:
            return service.no_ledger_note(store, district) or "没有高于置信度阈值的根源单位"
    return "没有高于置信度阈值的根源单位"


def cmd_rootcauses(args) -> int:
    from graph import service
    from graph.analysis.root_causes import attribution_notes, tolerance_widened
    from graph.reports import tolerance_zh, write_root_causes, write_root_causes_csv
    with closing(_reading(args)) as store:
        options = _analysis_options(args, store)
        dates = store.term_dates()
        current, earlier = service.term_pair(store, options.get("term"), dates)
        terms, misdated = service.terms(store, dates) if current is not None else ([], None)
        causes, notes, against = service.root_cause_report(store, **options)
        without_term = service.issues_without_term(store, options["district"]) if current is not None else 0
        # a district without a ledger is said among the notes, in place of "nothing above the threshold"
        ledgerless = service.no_ledger_note(store, options["district"]) if not causes and options["district"] else None
    if without_term:  # on stderr: --json's output stays a document
        print(service.without_term_notice(without_term), file=sys.stderr)
    if misdated:
        print(misdated, file=sys.stderr)
    if not causes and (args.xlsx or args.csv):  # as packages: no file of headers alone passed on as a report
        print(f"没有高于置信度阈值的根源单位，未写出 {'、'.join(p for p in (args.xlsx, args.csv) if p)}",
              file=sys.stderr)
    else:
        if args.xlsx:
            write_root_causes(causes, args.xlsx, notes)
        if args.csv:
            write_root_causes_csv(causes, args.csv)
    term_line = None
    if current is not None:
        # Without an earlier term the districts' baseline is what the analysis used (other districts,
        # or the categories' reference shares for one district): read from every pair it tested.
        # Each term's problems beside it: a term of a few problems (a label typed apart) shows.
        size = {t["term"]: t["problems"] for t in terms}
        term_line = f"届次：{current}" + (
            f"（区县以本区县上届 {earlier} 为基线，乡镇(街道)以同届同级为基线，两者证据并列；"
            f"台账中本届 {size.get(current, 0):,} 个问题，上届 {size.get(earlier, 0):,} 个）" if earlier else
            "（没有更早的届次可作基线：" + (f"区县以同届{'、'.join(against)}为基线，" if against else "")
            + f"乡镇(街道)以同届同级为基线；台账中本届 {size.get(current, 0):,} 个问题）")
    if args.json:
        for note in ([term_line] if term_line else []) + notes:  # on stderr: the output stays a document
            print(note, file=sys.stderr)
        _print_json(causes)
        return 0
    if term_line:
        print(term_line)
    for note in notes:
        print(note)
    if not causes:
        if ledgerless is None or ledgerless not in notes:
            print("没有高于置信度阈值的根源单位")
    for c in causes:
        e = c["evidence"]
        if not c["tested"]:  # no figures for an untested pair, only why
            print(f"{c['rank']:>3}. {c['unit_name']} [{LEVEL_ZH[c['level']]}] {c['category']}: 未检验（{c['reason']}）")
            continue
        print(f"{c['rank']:>3}. {c['unit_name']} [{LEVEL_ZH[c['level']]}] {c['category']}: 得分 {c['score']:.1f}, "
              f"置信度 {c['confidence']:.4f}, 发现 {e['observed']} 个 (期望 {e['expected']:.1f}), "
              f"涉及 {e['villages_affected']} 个村(社区), 整改后复发 {e['recurrences']} 个村(社区)")
        if e.get("baseline") == "last_term" and e.get("p_excess_vs_peers") is not None:
            # both baselines side by side: its own last term decided, its peers' test beside it
            print(f"     与同届其他区县相比：期望 {e['expected_vs_peers']:.1f} 个，p={e['p_excess_vs_peers']:.2g}")
        if c["reason"]:  # a pair standing on recurrence alone, and where
            print(f"     说明：{c['reason']}")
        tolerance = e.get("reference_tolerance")
        if e.get("reference_tolerance_assumed"):
            # too few categories to read it: the confidence rests on an assumption, said where it stands
            print(f"     基线：问题类别参考比例，{tolerance_zh(tolerance, assumed=True)}")
        elif tolerance_widened(tolerance):
            # a district office alone whose own mix differs from the rates: why an excess over
            # the rates is not yet a cause (one standard deviation, not a band)
            print(f"     基线：问题类别参考比例，容差为一个标准差 ±{tolerance:.0%}（本区县各类别与参考比例的差异大于 "
                  "±10%，按本区县自身的差异估计）")
        for note in attribution_notes(c):  # the rest of a district beside its townships; who explains a withdrawn pair
            print(f"     {note}")
    for path in (args.xlsx, args.csv):
        if path and causes:
            print(f"已写入 {path}")
    return 0


def cmd_packages(args) -> int:
    from graph import service
    from graph.reports import write_packages
    with closing(_reading(args)) as store:
        options = _analysis_options(args, store)
        current, _ = service.term_pair(store, options.get("term"))
        packages = service.packages(store, as_of=args.as_of, **options)
    if args.xlsx and not packages:
        # An empty report would read as "nothing to rectify"; the user is told instead.
        print(f"没有整改包（没有高于置信度阈值的根源单位），未写出 {args.xlsx}", file=sys.stderr)
    elif args.xlsx:
        write_packages(packages, args.xlsx)
    if args.json:
        _print_json(packages)
        return 0
    if current is not None:
        print(f"届次：{current}（整改包只计本届的问题）")
    if not packages:
        print(f"没有整改包：{_nothing_found(args, options['district'])}")
    for p in packages:
        a, t = p["agency_end"], p["totals"]
        print(f"{p['package_id']} {p['root_cause']['category']}")
        print(f"  机关端: {a['unit_name']}（{a['duty_zh']}）{a['task']}，{a['due_on']} 前完成")
        overdue = sum(1 for v in p["grassroots_end"] if v.get("overdue"))
        state = p["status"]
        print(f"  状态: 机关端{'已完成' if state['agency_done'] else '未完成'}，"
              f"{'已销号' if state['closed'] else ('可销号' if state['closable'] else '未销号')}")
        print(f"  基层端: {t['villages']} 个村(社区)、{t['issues']} 个问题（未完成 {t['open_issues']}"
              f"{f'，{overdue} 个村(社区)已逾期' if overdue else ''}）")
    if args.xlsx and packages:
        print(f"已写入 {args.xlsx}")
    return 0


def cmd_history(args) -> int:
    with closing(_reading(args)) as store:
        if store.issue(args.issue_id) is None:
            raise InputError(RowError("history", None, None, args.issue_id, "已加载的问题编号 (a loaded issue id)"))
        changes = store.issue_history(args.issue_id)
        issue = store.issue(args.issue_id)
        from graph.analysis.planning import recurrence_links
        links = [link for link in recurrence_links(store.issues_in(issue.village_code[:9], issue.category))
                 if args.issue_id in (link["closed"], link["reopened_by"])]
    from graph.settings import office_time
    rows = [{"status": c.status, "status_zh": Status(c.status).zh,
             "closed_on": c.closed_on.isoformat() if c.closed_on else None, "recorded_at": c.recorded_at,
             "recorded_at_local": office_time(c.recorded_at)}
            for c in changes]
    if args.json:
        _print_json({"issue_id": args.issue_id, "history": rows, "recurrence": links})
        return 0
    print(f"问题 {args.issue_id} 的整改状态记录：")
    for r in rows:
        closed = f"，销号日期 {r['closed_on']}" if r["closed_on"] else ""
        print(f"  {r['recorded_at_local']}  {r['status_zh']}{closed}")
    for link in links:
        state = "已重新打开（复发重开）" if link["reopened"] else "原问题应重新打开（xuncha reopen --apply）"
        print(f"  复发：{link['closed']} 整改后，{link['round']} 在同一村(社区)又发现同类问题 {link['reopened_by']}，{state}")
    return 0


def cmd_template(args) -> int:
    from loaders.templates import write_templates
    categories = []
    if args.store_categories:
        with closing(_reading(args)) as store:
            categories = [c.name for c in store.categories()]
    paths = write_templates(args.dir, force=args.force, categories=categories)
    if args.json:
        _print_json({k: str(v) for k, v in paths.items()})
    else:
        for kind, path in paths.items():
            print(f"{TABLE_ZH.get(kind, kind)}模板：{path}")
    return 0


def cmd_token(args) -> int:
    from graph.access import ROLE_ZH, create_token, revoke_token, tokens
    if args.action == "create":
        if not args.role:
            raise InputError("xuncha token create --role viewer|analyst|editor|admin")
        with closing(_existing(args, writing=True)) as store:
            plain, record = create_token(store, args.role, args.district, args.name or "")
        result = {**{k: v for k, v in record.__dict__.items() if k != "token_hash"}, "token": plain}
        if args.json:
            _print_json(result)
        else:
            scope = f"区县 {record.district_code}" if record.district_code else "全部区县"
            print(f"令牌 {record.token_id}（{ROLE_ZH[record.role]}，{scope}）：")
            print(plain)
            print("只显示这一次，请妥善保存；存储中只保存它的哈希。")
        return 0
    with closing(_existing(args, writing=True)) as store:
        if args.action == "revoke":
            if not args.token_id:
                raise InputError("xuncha token revoke TOKEN_ID")
            revoke_token(store, args.token_id)
            print(f"已撤销 {args.token_id}") if not args.json else _print_json({"revoked": args.token_id})
            return 0
        # --district: that district's tokens, as its district admin sees them over the API.
        listed = tokens(store, Scope(_district(store, args.district)) if args.district else EVERY_DISTRICT)
    rows = [{k: v for k, v in t.__dict__.items() if k != "token_hash"} for t in listed]
    if args.json:
        _print_json(rows)
        return 0
    from graph.settings import office_time
    for t in rows:  # times as the office reads them (stored in UTC; --json gives them as stored)
        state = f"已撤销 {office_time(t['revoked_at'])}" if t["revoked_at"] else "有效"
        print(f"{t['token_id']}  {ROLE_ZH[t['role']]}  {t['district_code'] or '全部区县'}  {t['name']}  "
              f"{office_time(t['created_at'])}  {state}")
    return 0


def cmd_viz(args) -> int:
    from pathlib import Path

    from visualizations import pages
    with closing(_reading(args)) as store:
        if args.view == "chain":
            html = pages.chain_page(store, args.target)
        elif args.view == "area":
            html = pages.area_page(store, args.target)
        elif args.view == "rootcause":
            if not args.category:
                raise InputError("xuncha viz rootcause UNIT_ID CATEGORY -o FILE")
            html = pages.root_cause_page(store, args.target, args.category)
        else:
            html = pages.unit_page(store, args.target, depth=args.depth)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    if args.json:
        _print_json({"view": args.view, "file": str(out), "bytes": len(html.encode())})
    else:
        print(f"已写入 {out}（{len(html.encode()) / 1024:.0f} KB，离线可打开）")
    return 0


def _planning_inputs(args, store):
    from loaders.base_data import read_base_data, read_config
    district = _district(store, args.district)
    config = read_config(getattr(args, "config", None))
    base = None
    if getattr(args, "base", None):
        base = read_base_data(args.base, {v.code for v in store.divisions("village", within=district)})
    return district, config, base


def cmd_classify(args) -> int:
    from graph import service
    from graph.analysis.planning import INDICATOR_ZH, KEY
    with closing(_reading(args)) as store:
        district, config, base = _planning_inputs(args, store)
        classes, modes = service.classified_modes(store, district, base, config)
        modes = {m["village_code"]: m for m in modes}
    rows = [{**c.as_dict(), "mode": modes[c.village_code]["mode"], "mode_reasons": modes[c.village_code]["reasons"]}
            for c in classes]
    if args.xlsx:
        from graph.reports import write_classification
        with closing(_reading(args)) as store:
            names = store.division_names({r["township_code"] for r in rows})
        write_classification(rows, names, INDICATOR_ZH, args.xlsx)
    if args.json:
        _print_json(rows)
        return 0
    key = [r for r in rows if r["class"] == KEY]
    by_mode = {}
    for r in rows:
        by_mode[r["mode"]] = by_mode.get(r["mode"], 0) + 1
    print(f"{district}：{len(rows)} 个村(社区)，重点村 {len(key)} 个；巡察方式 " +
          "、".join(f"{m} {n}" for m, n in sorted(by_mode.items())))
    for r in sorted(key, key=lambda r: -r["score"])[:args.top]:
        print(f"  {r['village_code']} {r['name']}：得分 {r['score']:.2f}，{r['mode']}（{'；'.join(r['mode_reasons'])}）")
    return 0


def cmd_keylist(args) -> int:
    from graph import service
    writing = args.action != "show"
    with closing(_existing(args, writing)) as store:
        district = _district(store, args.district)
        if args.action == "propose":
            from loaders.base_data import read_key_village_proposal
            if not args.file or not args.by:
                raise InputError("xuncha keylist propose --district CODE 名单.xlsx --by 推荐单位")
            villages = {v.code: (v.name, v.parent_code) for v in store.divisions("village", within=district)}
            rows = read_key_village_proposal(args.file, villages)
            service.propose_key_villages(store, district, rows, args.by, file=str(args.file))
        elif args.action in ("add", "remove"):
            if not args.village or not args.reason or not args.by:
                raise InputError(f"xuncha keylist {args.action} --district CODE --village 村(社区)代码 --reason 理由 --by 调整人")
            service.adjust_key_villages(store, district, args.village, args.action, args.reason, args.by)
        elif args.action == "approve":
            if not args.by:
                raise InputError("xuncha keylist approve --district CODE --by 审定人")
            service.approve_key_villages(store, district, args.by)
        base = None
        if args.base:
            from loaders.base_data import read_base_data
            base = read_base_data(args.base, {v.code for v in store.divisions("village", within=district)})
        result = service.key_village_list(store, district, base)
        if args.xlsx:
            from graph.reports import write_key_list
            codes = set(result["villages"]) | {c["village_code"] for c in result["changes"]} | {
                code for found in result["against_indicators"].values() for code in found}
            write_key_list(result, store.division_names(codes | {c[:9] for c in codes}), args.xlsx)
    from graph.settings import office_time
    if args.json:
        # each time also in the office's zone, as `history --json` gives it
        def local(entry: dict | None) -> dict | None:
            return {**entry, "at_local": office_time(entry["at"])} if entry and entry.get("at") else entry
        _print_json({**result, "proposed": local(result["proposed"]), "approved": local(result["approved"]),
                     "changes": [local(c) for c in result["changes"]]})
        return 0
    proposed, approved = result["proposed"], result["approved"]
    print(f"{district} 重点村名单：{len(result['villages'])} 个，{result['status_zh']}")
    print(f"  推荐：{proposed['by']}，{office_time(proposed['at'])}，{proposed['count']} 个")
    for change in result["changes"]:
        verb = "增列" if change["action"] == "add" else "移出"
        print(f"  调整：{office_time(change['at'])} {change['by']} {verb} {change['village_code']}，理由：{change['reason']}")
    if approved:
        print(f"  审定：{approved['by']}，{office_time(approved['at'])}")
    diff = result["against_indicators"]
    print(f"  与指标分类不一致：名单内的一般村 {len(diff['listed_but_ordinary'])} 个，名单外的重点村 "
          f"{len(diff['key_but_not_listed'])} 个" + ("" if not diff["key_but_not_listed"] else
                                                   "（" + "、".join(diff["key_but_not_listed"][:5]) + "…）"))
    return 0


def cmd_plan(args) -> int:
    from graph import service
    from graph.analysis.planning import DIRECT, JOINT
    with closing(_reading(args)) as store:
        district, config, base = _planning_inputs(args, store)
        per_team = {mode: n for mode, n in ((DIRECT, args.direct), (JOINT, args.joint)) if n is not None}
        plan = service.coverage_plan(store, district, teams=args.teams, term_end=args.term_end, start=args.start,
                                     rounds_per_year=args.rounds_per_year, per_team=per_team, base_data=base,
                                     config=config, term_start=args.term_start, today=args.as_of)
    if args.xlsx:
        from graph.reports import write_plan
        write_plan(plan, args.xlsx)
    if args.json:
        _print_json(plan)
        return 0 if plan["feasible"] else 1
    print(f"{district}：村(社区) {plan['villages']} 个，本届已巡 {plan['inspected']} 个，待巡 {plan['to_inspect']} 个；"
          f"{plan['teams']} 个巡察组，届内可安排 {plan['rounds_available']} 轮（前半届 {plan['first_half']} 轮）")
    for r in plan["rounds"]:
        modes = "、".join(f"{k} {v}" for k, v in r["by_mode"].items())
        print(f"  第 {r['round']} 轮 {r['round_id']}（{r['starts_on']} 至 {r['ends_on']}）：{len(r['teams'])} 个组，"
              f"乡镇(街道) {len(r['townships'])} 个，村(社区) {len(r['villages'])} 个（{modes}）"
              f"{'' if r['within_term'] else '  ← 超出本届'}")
    for p in plan["special"]:
        print(f"  专项巡察建议（计划之外另行安排）：{p['topic']}，{p['scope']['villages']} 个村(社区)，"
              f"牵头单位 {p['lead_unit']['unit_name']}")
    if args.xlsx:
        print(f"已写入 {args.xlsx}")
    if plan["feasible"]:
        print(f"届内全覆盖：{plan['covered']}/{plan['villages']}；重点村{'均在' if plan['key_in_first_half'] else '未全部在'}"
              f"前半届；届内空余 {plan['spare_team_rounds']} 组次可安排专项巡察和回头看")
        return 0
    print(f"本届结束前无法全覆盖：需要 {plan['rounds_needed']} 轮，或 {plan['teams_needed']} 个巡察组", file=sys.stderr)
    return 1


def cmd_inspections(args) -> int:
    from graph import service
    with closing(_existing(args, args.action == "load")) as store:
        district = _district(store, args.district)
        if args.action == "load":
            from loaders.base_data import read_inspections
            if not args.file:
                raise InputError("xuncha inspections load 巡察记录.xlsx --district CODE [--round 巡察轮次]")
            areas = {d.code for level in ("township", "village") for d in store.divisions(level, within=district)}
            summary = open_workflow(store).save_inspections(read_inspections(args.file, areas, args.round))
        records = open_workflow(store).inspections(district)
        covered = service.inspected_this_term(store, district, args.term_start)
    rows = [{**r.__dict__, "started_on": r.started_on.isoformat(),
             "ended_on": r.ended_on.isoformat() if r.ended_on else None} for r in records]
    if args.xlsx:
        from graph.reports import write_sheet
        write_sheet(args.xlsx, "巡察记录", ["对象代码", "巡察轮次", "开始日期", "结束日期", "巡察组", "巡察方式"],
                    ([r["area_code"], r["round_id"], r["started_on"], r["ended_on"], r["team"], r["mode"]] for r in rows),
                    [14, 14, 12, 12, 8, 12])
    if args.json:
        _print_json({"district": district, "records": rows, "inspected": len(covered),
                     **({"loaded": summary.as_dict()} if args.action == "load" else {})})
        return 0
    if args.action == "load":
        print(_summary_line("inspections", summary))
    print(f"{district}：巡察记录 {len(rows)} 条；本届已巡村(社区)和乡镇(街道) {len(covered)} 个（含发现问题的村）")
    return 0


def cmd_rectify(args) -> int:
    from graph import service
    from graph.analysis.planning import WARNING_ZH
    from loaders.base_data import read_config
    with closing(_reading(args)) as store:
        status = service.rectification_status(store, _district(store, args.district), args.as_of,
                                              config=read_config(args.config))
    if args.xlsx:
        from graph.reports import write_rectification
        write_rectification(status, args.xlsx)
    if args.json:
        _print_json(status)
        return 0
    print(f"{status['district']} 整改预警（{status['as_of']}）：" + "、".join(
        f"{WARNING_ZH[k]} {n}" for k, n in status["counts"].items() if n))
    immediate = status["immediate"]
    print(f"立行立改（{status['immediate_days']} 日内整改）：{immediate['done']}/{immediate['total']} 已完成，"
          f"逾期 {immediate['overdue']} 个")
    by_id = {r["issue_id"]: r for r in status["issues"]}
    for issue_id in status["immediate_overdue"][:args.top]:
        r = by_id[issue_id]
        print(f"  {issue_id} {r['township_name']}{r['village_name']} {r['category']}：时限 {r['due_on']}，"
              f"责任单位 {'；'.join(r['responsible'])}")
    if args.xlsx:
        print(f"已写入 {args.xlsx}")
    return 0


def cmd_reopen(args) -> int:
    from graph import service
    with closing(_existing(args, args.apply)) as store:
        result = service.reopen_recurrences(store, _district(store, args.district), apply=args.apply, on=args.on,
                                            by=args.by or "")
    if args.xlsx:
        from graph.reports import write_reopen
        write_reopen(result, args.xlsx)
    if args.json:
        _print_json(result)
        return 0
    verb = "已重新打开" if args.apply else "应重新打开（加 --apply 写入）"
    print(f"{result['district']}：整改后复发的问题 {len(result['issues'])} 个、已销号整改包 {len(result['packages'])} 个{verb}")
    for link in result["issues"]:
        print(f"  {link['closed']} → {link['reopened_by']}（{link['round']}，{link['village_code']}，{link['category']}）")
    for link in result["packages"]:
        print(f"  {link['package_id']}（{link['closed_on']} 销号）→ {'、'.join(link['reopened_by'][:5])}"
              f"{' 等' if len(link['reopened_by']) > 5 else ''}")
    return 0


def cmd_backcheck(args) -> int:
    from graph import service
    if args.action == "record":
        from loaders.base_data import read_back_check_results
        if not args.file:
            raise InputError("xuncha backcheck record 抽查结果.xlsx --district CODE --by 抽查人")
        with closing(_existing(args, writing=True)) as store:
            rows = read_back_check_results(args.file, service.BACKCHECK_RESULTS)
            recorded = service.record_back_checks(store, _district(store, args.district), rows, args.by or "")
        if args.json:
            _print_json(recorded)
        else:
            print(_summary_line("backcheck", WriteSummary(**recorded["recorded"])))
            if recorded["not_fixed"]:
                print(f"未整改到位 {len(recorded['not_fixed'])} 个：{'、'.join(recorded['not_fixed'])}")
        return 0
    with closing(_reading(args)) as store:
        result = service.back_check(store, _district(store, args.district), args.share, args.seed)
    if args.xlsx:
        from graph.reports import write_back_check
        write_back_check(result, args.xlsx)
    if args.json:
        _print_json(result)
        return 0
    print(f"{result['district']}：有已整改/销号问题的村(社区) {result['villages_with_closed']} 个（问题 {result['closed']} 个），"
          f"抽查 {len(result['villages'])} 个村(社区)、{len(result['sample'])} 个问题（种子 {result['seed']}，同样的种子得到同样的样本）")
    for v in result["villages"]:
        print(f"  {v['village_code']} {v['township_name']}{v['village_name']}：{len(v['issues'])} 个问题")
    if args.xlsx:
        print(f"已写入 {args.xlsx}（填写“抽查结果”表后用 xuncha backcheck record 导入）")
    return 0


def cmd_evaluate(args) -> int:
    from graph import service
    with closing(_reading(args)) as store:
        result = service.evaluation(store, _district(store, args.district), args.as_of)
    if args.xlsx:
        from graph.reports import write_evaluation
        write_evaluation(result, args.xlsx)
    if args.json:
        _print_json(result)
        return 0
    pct = lambda v: "—" if v is None else f"{v:.1%}"  # noqa: E731
    print(f"{result['district']}：问题 {result['problems']} 个，按期整改率 {pct(result['on_time_rate'])}，"
          f"已整改/销号 {pct(result['share_closed'])}，整改后复发 {pct(result['recurrence_after_closure'])}")
    from graph.analysis.planning import SHIFT_ZH
    for round_id, mix in result["category_mix_by_round"].items():
        top = "、".join(f"{c} {n}" for c, n in list(mix.items())[:3])
        shift = result["shifts_by_round"][round_id]
        tagged = "，".join(f"{SHIFT_ZH[k]} {shift[k]:.1%}" for k in SHIFT_ZH)
        print(f"  {round_id}：{top}；{tagged}")
    return 0


def cmd_notice(args) -> int:
    import datetime as dt
    from pathlib import Path

    from graph import service
    from graph.reports import write_notice, write_notice_html
    as_of = args.as_of or dt.date.today()
    with closing(_reading(args)) as store:
        notices = service.transfer_notices(store, _district(store, args.district), as_of=as_of, top=args.top,
                                           term_start=args.term_start)
    out = Path(args.out)
    written = []
    for notice in notices:
        stem = f"{notice['unit_id']}-{notice['unit_name']}".replace("/", "_")
        written.append({"unit_id": notice["unit_id"], "unit_name": notice["unit_name"], "leader": notice["leader"],
                        "causes": len(notice["causes"]), "hints": len(notice["hints"]), "open": len(notice["items"]),
                        "xlsx": str(write_notice(notice, out / f"{stem}.xlsx", as_of)),
                        "html": str(write_notice_html(notice, out / f"{stem}.html", as_of))})
    if args.json:
        _print_json({"notices": written})
    else:
        print(f"抄告单 {len(written)} 份（每个接收单位一份，Excel 和可打印的 HTML），已写入 {out}")
        for n in written:
            print(f"  {n['unit_name']}：根源问题 {n['causes']} 类，巡察组提示 {n['hints']} 类，未完成整改 {n['open']} 个")
    return 0


def cmd_package(args) -> int:
    import datetime as dt

    from graph import service
    on = args.on or dt.date.today()
    with closing(_existing(args, writing=True)) as store:
        record = service.complete_agency_end if args.action == "agency-done" else service.close_package
        scope = Scope(_district(store, args.district)) if args.district else EVERY_DISTRICT
        _, package = record(store, args.package_id, on, args.note or "", by=args.by, scope=scope)
    if args.json:
        _print_json({"package_id": package["package_id"], "status": package["status"]})
    else:
        state = package["status"]
        grassroots = "已完成" if state["grassroots_done"] else f"还有 {state['grassroots_open']} 个未整改"
        closed = f"已销号 {state['closed_on']}" if state["closed"] else "未销号"
        agency = "已完成" if state["agency_done"] else "未完成"
        print(f"{package['package_id']}：机关端{agency}，基层端{grassroots}，{closed}")
    return 0


def cmd_repair(args) -> int:
    with closing(_existing(args, writing=True)) as store:
        found = store.repair()
    if args.json:
        _print_json(found)
    else:
        print("已清理中断的加载留下的数据 (leftovers of an interrupted load removed)：" +
              "，".join(f"{k} {v}" for k, v in found.items()))
    return 0


def cmd_serve(args) -> int:
    import os

    from api.server import serve
    from graph.settings import get_settings
    settings = get_settings()
    if args.store:  # the API reads its store from the settings, like every other process
        os.environ["XUNCHA_STORE"] = args.store
    # A store that cannot be opened is said before the server starts (exit 2 for a bad or missing
    # store, 1 for one that fails), not as the server's traceback on its way down.
    with closing(_reading(args)):
        pass
    serve(args.host or settings.api_host, args.port if args.port is not None else settings.api_port, workers=args.workers,
          log_level="warning" if args.quiet else "info")
    return 0


# -- parser -----------------------------------------------------------------------------------------
class ChineseHelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        # argparse builds a command's name from the usage with prefix "": no second 用法：.
        super().add_usage(usage, actions, groups, "用法：" if prefix is None else prefix)


# argparse's own messages, as the user reads them.
_ARGPARSE_ZH = ((r"the following arguments are required: (.*)", r"缺少参数：\1"),
                (r"argument (\S+): invalid choice: (.*) \(choose from (.*)\)", r"参数 \1：无效的选择 \2（可选 \3）"),
                (r"argument (\S+): invalid (\w+) value: (.*)", r"参数 \1：无效的值 \3"),
                (r"argument (\S+): expected one argument", r"参数 \1：需要一个值"),
                (r"argument (\S+): not allowed with argument (\S+)", r"参数 \1 不能与 \2 同时使用"),
                (r"one of the arguments (.*) is required", r"需要以下参数之一：\1"),
                (r"unrecognized arguments: (.*)", r"无法识别的参数：\1"),
                (r"argument (\S+): (.*)", r"参数 \1：\2"))


class ChineseArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        import re
        for pattern, text in _ARGPARSE_ZH:
            if re.fullmatch(pattern, message):
                message = re.sub(pattern, text, message)
                break
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}：{message}\n")


class CommandParser(ChineseArgumentParser):
    """A command's files after its options too (``xuncha load issues --district 500101 台账.csv``,
    the README's ``keylist propose --district … 名单.csv``): argparse gives an optional file
    (``nargs="?"``) its turn before the options and leaves it over. Parsed as argparse parses,
    its own messages for what is missing or wrong kept; only where plain words are left over
    is the command parsed again with options and positionals intermixed."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing:  # parse_known_intermixed_args calls back here, twice
            return super().parse_known_args(args, namespace)
        args = list(sys.argv[1:] if args is None else args)
        fresh = copy.copy(namespace)
        parsed, extras = super().parse_known_args(args, namespace)
        if not extras or any(a.startswith("-") for a in extras):
            return parsed, extras
        self._intermixing, usage = True, self.usage
        if usage is None:
            # argparse keeps the usage for its errors by cutting the English "usage: " off the
            # front: made here without a prefix, it keeps the command's name whole
            formatter = self._get_formatter()
            formatter.add_usage(None, self._actions, self._mutually_exclusive_groups, prefix="")
            self.usage = formatter.format_help().strip()
        try:
            return self.parse_known_intermixed_args(args, fresh)
        finally:
            self._intermixing, self.usage = False, usage


def _parser(**kwargs) -> argparse.ArgumentParser:
    parser = ChineseArgumentParser(formatter_class=ChineseHelpFormatter, add_help=False, **kwargs)
    parser.add_argument("-h", "--help", action="help", help="显示帮助并退出 (show this help)")
    parser._positionals.title = "位置参数"
    parser._optionals.title = "选项"
    return parser


def _date(text: str):
    from graph.model import parse_date
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _parser(prog="xuncha", description="巡察：村(社区)巡察的责任链图谱 (responsibility-chain graph)")
    parser.add_argument("--store", help="存储位置 sqlite:///路径 或 neo4j://主机:端口（默认 $XUNCHA_STORE 或 "
                                        "sqlite:///xuncha.db）")
    sub = parser.add_subparsers(dest="command", required=True, title="命令", metavar="命令",
                                parser_class=CommandParser)

    def command(name: str, func, text: str, json_output: bool = True) -> argparse.ArgumentParser:
        command_parser = sub.add_parser(name, help=text, description=text, formatter_class=ChineseHelpFormatter,
                                        add_help=False)
        command_parser.add_argument("-h", "--help", action="help", help="显示帮助并退出 (show this help)")
        command_parser._positionals.title = "位置参数"
        command_parser._optionals.title = "选项"
        # --store also after the command (xuncha stats --store ...); the global one is the default.
        command_parser.add_argument("--store", default=argparse.SUPPRESS, help="同全局 --store")
        if json_output:
            command_parser.add_argument("--json", action="store_true", help="输出 JSON (machine-readable output)")
        command_parser.set_defaults(func=func)
        return command_parser

    load = command("load", cmd_load, "加载区划、问题类别、单位、权责或问题台账 (load a table)")
    load.add_argument("table", choices=["divisions", "categories", "units", "duties", "issues", "base"],
                      help="表：divisions 区划、categories 问题类别、units 单位、duties 权责清单、issues 问题台账、"
                           "base 村(社区)基础信息（分类用，需 --district）")
    load.add_argument("path", nargs="?", help="文件（CSV 或 Excel）；区划为文件夹，默认随附的重庆数据")
    load.add_argument("--province", help="区划：只加载这个 2 位省级代码")
    load.add_argument("--district", help="区划：只加载这个 6 位区县代码；问题台账：只能写入这个区县的问题"
                                         "（其他区县的问题编号或村(社区)代码整表拒绝）；基础信息：所属区县")
    load.add_argument("--new-category", action="store_true",
                      help="权责清单：允许新建问题类别表中没有的类别 (create categories)")
    load.add_argument("--new-function", action="store_true",
                      help="权责清单：允许已加载单位都没有的职能 (functions no unit has)")
    load.add_argument("--allow-reopen", action="store_true",
                      help="问题台账：允许把已销号的问题改回其他状态 (reopen closed issues)")

    command("stats", cmd_stats, "按层级统计，并列出各区县的乡镇、村和社区数 (counts)").add_argument(
        "--district", help="只统计这个区县")
    command("show", cmd_show, "查看一个区划：上级、下辖数量和单位 (a division)").add_argument(
        "code", help="区划代码或名称")

    catalog = command("catalog", cmd_catalog, "默认的问题类别与权责清单 (the default catalog)")
    catalog.add_argument("action", choices=["load", "units", "show"],
                         help="load 加载类别和权责；units 为每个区县、乡镇按职能建单位；show 输出目录")
    catalog.add_argument("--district", action="append", help="units：只为这个区县（可重复；默认全部已加载）")

    generate = command("generate", cmd_generate, "生成模拟台账（单位、权责、问题、truth.json）(a scenario)")
    generate.add_argument("what", choices=["scenario"], help="scenario 模拟场景")
    scope = generate.add_mutually_exclusive_group(required=True)
    scope.add_argument("--province", help="2 位省级代码")
    scope.add_argument("--district", action="append", help="6 位区县代码（可重复）")
    generate.add_argument("--seed", type=int, default=1, help="随机种子")
    generate.add_argument("--out", required=True, help="输出文件夹")
    generate.add_argument("--rounds", type=int, default=2, help="巡察轮次数")
    generate.add_argument("--noise", type=float, default=0.5, help="村问题风险的离散程度（变异系数）")
    generate.add_argument("--causes", type=int, help="植入的根源数（默认区县数的三分之一，至少 2）")
    generate.add_argument("--every-round", action="store_true",
                          help="每轮巡察全部村(社区)（默认每个乡镇只巡一轮）")
    generate.add_argument("--revisit", action="store_true", help="最后加一轮回头看")
    generate.add_argument("--kappa", type=float, help="村问题结构跨轮次持续（越小越集中）")
    generate.add_argument("--coverage", type=float, default=1.0, help="已巡察村(社区)比例")
    generate.add_argument("--township-share", type=float, default=1.0, help="已巡察乡镇(街道)比例（届中）")
    generate.add_argument("--office-categories", type=int,
                          help="巡察办自有问题类别数，中文表头，无参考比例")
    generate.add_argument("--terms", type=int, default=1,
                          help="届数（每届五年，台账带“届次”列；根源只植入最近一届）")
    generate.add_argument("--spread", type=float, default=0.0,
                          help="区县之间因本地原因的稳定差异 φ（各届相同，不是根源；如 0.02）")

    command("chain", cmd_chain, "一个问题的责任链 (responsibility chain)").add_argument("issue_id", help="问题编号")
    command("history", cmd_history, "一个问题的整改状态记录 (status history)").add_argument(
        "issue_id", help="问题编号")

    for name, func, text in (("rootcauses", cmd_rootcauses, "找出上级根源单位 (surface root causes)"),
                             ("packages", cmd_packages, "机关+基层联动整改包 (joint rectification packages)")):
        analysis = command(name, func, text)
        analysis.add_argument("--district", help="只看这个区县（6 位代码或全名，如 万州区；同名区县须用代码）")
        analysis.add_argument("--level", choices=["township", "district"], help="township 乡镇 或 district 区县")
        analysis.add_argument("--top", type=_count, help="只列前 N 个")
        analysis.add_argument("--min-confidence", type=_confidence, default=DEFAULT_MIN_CONFIDENCE,
                              help=f"置信度阈值（默认 {DEFAULT_MIN_CONFIDENCE}）")
        analysis.add_argument("--all", action="store_true", help="列出所有组合，不只是高于阈值的（未检验的只给出原因）")
        analysis.add_argument("--term", help="只分析这一届（台账“届次”列；默认最近一届，以上一届为基线）")
        analysis.add_argument("--xlsx", help="同时写出 Excel 报告")
        if name == "rootcauses":
            analysis.add_argument("--csv", help="同时写出 CSV 报告（UTF-8 带 BOM）")
        else:
            analysis.add_argument("--as-of", type=_date, help="报告日期，时限从此日算起（默认今天）")

    template = command("template", cmd_template, "写出空白 Excel 模板：单位、权责、问题、村(社区)基础信息、乡镇推荐重点村名单 (templates)")
    template.add_argument("dir", help="输出文件夹")
    template.add_argument("--force", action="store_true", help="覆盖已有的模板文件")
    template.add_argument("--store-categories", action="store_true",
                          help="问题类别下拉列表取自存储中已加载的类别（默认取自默认目录）")

    classify = command("classify", cmd_classify, "村(社区)分类与巡察方式建议 (classify villages)")
    classify.add_argument("--district", required=True, help="区县代码")
    classify.add_argument("--base", help="村(社区)基础信息表（人口、集体资金、项目数、矛盾纠纷和信访、软弱涣散、廉政风险）；"
                                         "默认用 xuncha load base 已加载的")
    classify.add_argument("--config", help="权重和阈值配置（TOML；默认随附的 classification.toml）")
    classify.add_argument("--top", type=_count, default=10, help="列出得分最高的 N 个重点村")
    classify.add_argument("--xlsx", help="同时写出 Excel")

    keylist = command("keylist", cmd_keylist, "重点村名单：乡镇推荐、巡察办调整（附理由）并审定 (the key-village list)")
    keylist.add_argument("action", choices=["show", "propose", "add", "remove", "approve"],
                         help="show 查看；propose 导入乡镇推荐名单；add/remove 巡察办增列或移出；approve 审定")
    keylist.add_argument("file", nargs="?", help="乡镇推荐名单（propose：CSV 或 Excel，列 村(社区)代码、推荐理由）")
    keylist.add_argument("--district", required=True, help="区县代码")
    keylist.add_argument("--village", help="增列或移出的村(社区)代码")
    keylist.add_argument("--reason", help="调整理由（增列、移出时必填）")
    keylist.add_argument("--by", help="推荐单位、调整人或审定人")
    keylist.add_argument("--base", help="村(社区)基础信息表，用于与指标分类比较（默认用已加载的）")
    keylist.add_argument("--xlsx", help="同时写出 Excel：重点村名单、调整记录、与指标分类不一致")
    plan = command("plan", cmd_plan, "届内全覆盖巡察计划：轮次起止、各组任务、专项巡察建议另列 (a work plan)")
    plan.add_argument("--district", required=True, help="区县代码")
    plan.add_argument("--teams", type=int, required=True, help="巡察组数")
    plan.add_argument("--term-end", type=_date, required=True, help="本届结束日期")
    plan.add_argument("--start", type=_date, help="第一轮开始日期（默认今天）")
    plan.add_argument("--as-of", type=_date, help="制定计划的日期（默认今天）：第一轮不能早于它")
    plan.add_argument("--term-start", type=_date,
                      help="本届开始日期：此后有巡察记录或发现过问题的村(社区)视为已巡（默认全部记录）")
    plan.add_argument("--rounds-per-year", type=int, help="每年轮次：1、2、3、4、6 或 12（默认见配置，2）")
    plan.add_argument("--direct", type=int, help="每组每轮直接巡村的重点村数（默认见配置，4）")
    plan.add_argument("--joint", type=int, help="每组每轮乡村一体巡的对象数，乡镇(街道)本身计 1 个（默认见配置，15）")
    plan.add_argument("--base", help="村(社区)基础信息表（默认用 xuncha load base 已加载的）")
    plan.add_argument("--config", help="分类和计划配置（TOML）")
    plan.add_argument("--xlsx", help="同时写出 Excel：巡察计划、轮次、乡镇(街道)、专项巡察建议")

    inspections = command("inspections", cmd_inspections,
                          "巡察记录：某轮巡察了哪些村(社区)和乡镇(街道)，无论是否发现问题 (inspections done)")
    inspections.add_argument("action", choices=["load", "show"], help="load 导入（如计划表中已完成的一轮）；show 查看")
    inspections.add_argument("file", nargs="?", help="load：巡察记录表（列 对象代码、巡察轮次、开始日期，可选 结束日期、巡察组、巡察方式）")
    inspections.add_argument("--district", required=True, help="区县代码")
    inspections.add_argument("--round", help="load：只导入这一巡察轮次的行")
    inspections.add_argument("--term-start", type=_date, help="本届开始日期（统计本届已巡）")
    inspections.add_argument("--xlsx", help="同时写出 Excel")

    rectify = command("rectify", cmd_rectify, "整改预警：按期、15日内到期、逾期、逾期超90日 (deadline warnings)")
    rectify.add_argument("--district", required=True, help="区县代码")
    rectify.add_argument("--as-of", type=_date, help="预警日期（默认今天）")
    rectify.add_argument("--config", help="配置（TOML）：[plan] immediate_days 立行立改时限天数（默认 15）")
    rectify.add_argument("--top", type=_count, default=20, help="列出前 N 个逾期的立行立改事项")
    rectify.add_argument("--xlsx", help="同时写出 Excel：整改预警、立行立改逾期、汇总")

    reopen = command("reopen", cmd_reopen, "整改后复发的问题和已销号整改包重新打开，并记录关联 (reopen recurrences)")
    reopen.add_argument("--district", required=True, help="区县代码")
    reopen.add_argument("--apply", action="store_true", help="写入（默认只列出，不改动）")
    reopen.add_argument("--on", type=_date, help="重新打开的日期（默认今天）；复发问题的新整改时限从此日算起")
    reopen.add_argument("--by", help="操作人（记入整改包的历史）")
    reopen.add_argument("--xlsx", help="同时写出 Excel：复发问题、重新打开的整改包")
    backcheck = command("backcheck", cmd_backcheck, "按村(社区)随机抽查已整改问题，种子可复现；抽查结果导回 (back-checks)")
    backcheck.add_argument("action", nargs="?", choices=["sample", "record"], default="sample",
                           help="sample 抽样（默认）；record 导入填好的抽查结果表")
    backcheck.add_argument("file", nargs="?", help="record：抽查结果表（列 问题编号、抽查结果、抽查日期，可选 抽查人、说明）")
    backcheck.add_argument("--district", required=True, help="区县代码")
    backcheck.add_argument("--by", help="record：抽查人（结果表未填“抽查人”的行）")
    backcheck.add_argument("--xlsx", help="同时写出 Excel：抽查村(社区)、抽查结果（可填写后导回）")
    backcheck.add_argument("--share", type=float, default=0.05, help="抽查村(社区)比例（默认 5%%）")
    backcheck.add_argument("--seed", type=int, default=1, help="随机种子")

    evaluate = command("evaluate", cmd_evaluate, "成效评估：按期整改率、销号率、复发率、各轮问题结构 (effectiveness)")
    evaluate.add_argument("--district", required=True, help="区县代码")
    evaluate.add_argument("--as-of", type=_date, help="评估日期（默认今天）")
    evaluate.add_argument("--xlsx", help="同时写出 Excel：全区、各乡镇(街道)、各部门、各整改包、三个变化(按轮次)")

    package = command("package", cmd_package, "整改包两端：记录机关端完成，两端都完成后销号 (package ends and closure)")
    package.add_argument("action", choices=["agency-done", "close"], help="agency-done 机关端完成；close 销号")
    package.add_argument("package_id", help="整改包编号，如 PKG-500101-村(居)务公开")
    package.add_argument("--on", type=_date, help="完成或销号日期（默认今天）")
    package.add_argument("--note", help="佐证说明（机关端完成时必填）")
    package.add_argument("--district", help="只能写入这个区县的整改包 (the package must be of this district)")
    package.add_argument("--by", required=True, help="经办人：谁确认机关端完成或销号（记入整改包的历史）")

    notice = command("notice", cmd_notice, "反馈移交抄告单：每个接收单位一份（根源分析和巡察组提示的根源单位），"
                                           "Excel 和可打印的 HTML (transfer notices)")
    notice.add_argument("--district", required=True, help="区县代码")
    notice.add_argument("--term-start", type=_date, help="本届开始日期：此前已整改的问题不再计入")
    notice.add_argument("--top", type=_count, help="只为前 N 个整改包")
    notice.add_argument("--as-of", type=_date, help="抄告日期，时限从此日算起（默认今天）")
    notice.add_argument("--out", required=True, help="输出文件夹")

    viz = command("viz", cmd_viz, "可视化：写出离线可打开的 HTML 图 (views as self-contained HTML)")
    viz.add_argument("view", choices=["chain", "area", "rootcause", "unit"],
                     help="chain 问题责任链；area 区县或乡镇网络；rootcause 根源图；unit 单位关系")
    viz.add_argument("target", help="chain：问题编号；area：区划代码；rootcause、unit：单位编号")
    viz.add_argument("category", nargs="?", help="rootcause：问题类别")
    viz.add_argument("-o", "--output", required=True, help="输出的 HTML 文件")
    viz.add_argument("--depth", type=int, default=1, help="unit：邻域深度（默认 1）")

    token = command("token", cmd_token, "API 令牌：新建、列出、撤销 (API tokens)")
    token.add_argument("action", choices=["create", "list", "revoke"], help="create 新建；list 列出；revoke 撤销")
    token.add_argument("token_id", nargs="?", help="revoke：令牌编号")
    token.add_argument("--role", choices=["viewer", "analyst", "editor", "admin"],
                       help="create：角色 viewer 查看 < analyst 分析 < editor 编辑 < admin 管理")
    token.add_argument("--district", help="create：只能看到和修改这个区县；list：只列这个区县的令牌")
    token.add_argument("--name", help="create：令牌名称（如使用它的系统）")

    command("repair", cmd_repair, "清理中断的加载留下的数据 (remove what an interrupted load left)")
    serve = command("serve", cmd_serve, "运行 HTTP API（默认只监听 127.0.0.1）", json_output=False)
    serve.add_argument("--host", help="监听地址")
    serve.add_argument("--port", type=_port, help="端口（1–65535）")
    serve.add_argument("--workers", type=int, default=1, help="工作进程数（每个进程一个存储连接和缓存）")
    serve.add_argument("--quiet", action="store_true", help="不逐条打印请求日志")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"xuncha：输入有误 (bad input)：\n{exc.summary()}", file=sys.stderr)
        return exc.exit_code
    except XunchaError as exc:
        print(f"xuncha：{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
