"""``xuncha``: the command line. Each command parses input, calls ``graph``/``loaders`` and
formats the result, as text for people or ``--json`` for programs. Errors go to stderr; exit code 2
for bad input, 1 for other failures."""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing

from graph import open_store
from graph.errors import InputError, XunchaError
from graph.analysis.root_causes import DEFAULT_MIN_CONFIDENCE
from graph.model import LEVEL_ZH, VILLAGE_KIND_ZH
from graph.store import WriteSummary


def _print_json(value) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def _summary_line(label: str, summary) -> str:
    return f"{label}: {summary.inserted:,} new, {summary.updated:,} changed, {summary.unchanged:,} unchanged"


# -- commands -------------------------------------------------------------------------------------
def cmd_load(args) -> int:
    from loaders import tables
    from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
    with closing(open_store(args.store)) as store:
        if args.table == "divisions":
            summary = load_divisions(store, args.path or DEFAULT_DIVISIONS, province=args.province,
                                     district=args.district, show_progress=not args.json)
        else:
            if not args.path:
                raise InputError(f"xuncha load {args.table} PATH: the file to load")
            if args.province or args.district:
                raise InputError("--province and --district limit divisions only")
            summary = tables.load_table(store, args.table, args.path, show_progress=not args.json)
    if args.json:
        _print_json({"table": args.table, **summary.as_dict()})
    else:
        print(_summary_line(args.table, summary))
    return 0


def cmd_stats(args) -> int:
    with closing(open_store(args.store)) as store:
        counts = store.counts(args.district)
    if args.json:
        _print_json(counts)
        return 0
    levels = counts["by_level"]
    print("区划 divisions: " + ", ".join(f"{LEVEL_ZH[k]} {v:,}" for k, v in levels.items()))
    print("村级 village-level units: " + ", ".join(
        f"{VILLAGE_KIND_ZH[k]} {v:,}" for k, v in counts["villages_by_kind"].items()))
    print(f"单位 units {counts['units']:,}; 问题类别 categories {counts['categories']:,}; "
          f"权责 duties {counts['duties']:,}; 问题 issues {counts['issues']:,}")
    print(f"{'代码':<8}{'区县':<12}{'乡镇':>6}{'村':>7}{'社区':>7}{'合计':>7}")
    for d in counts["districts"]:
        print(f"{d['code']:<8}{d['name']:<12}{d['townships']:>6}{d['villages']:>7}{d['communities']:>7}"
              f"{d['village_level_units']:>7}")
    return 0


def cmd_show(args) -> int:
    with closing(open_store(args.store)) as store:
        division = store.division(args.code)
        if division is None:
            raise InputError(f"a division code that is loaded; {args.code} is not")
        ancestors = []
        code = division.parent_code
        while code:
            parent = store.division(code)
            if parent is None:
                break
            ancestors.append(parent)
            code = parent.parent_code
        children = store.children_counts(division.code)
        units = store.units([division.code])
    result = {"code": division.code, "name": division.name, "level": division.level, "kind": division.kind,
              "ancestors": [{"code": a.code, "name": a.name, "level": a.level} for a in reversed(ancestors)],
              "children": children, "units": [u.__dict__ for u in units]}
    if args.json:
        _print_json(result)
        return 0
    path = " > ".join(a.name for a in reversed(ancestors))
    print(f"{division.name} ({division.code}, {LEVEL_ZH[division.level]}{'·' + division.kind if division.kind else ''})")
    if path:
        print(f"上级 ancestors: {path}")
    for level, n in children.items():
        print(f"下辖 {LEVEL_ZH.get(level, level)}: {n:,}")
    for u in units:
        print(f"单位 {u.unit_id} {u.name} ({u.function})")
    return 0


def cmd_catalog(args) -> int:
    from loaders import catalog
    with closing(open_store(args.store)) as store:
        if args.action == "load":
            result = {name: s.as_dict() for name, s in catalog.load_default_catalog(store).items()}
        elif args.action == "units":
            districts = args.district or [d.code for d in store.divisions("district")]
            if not districts:
                raise InputError("loaded divisions first: xuncha load divisions")
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
    with closing(open_store(args.store)) as store:
        scenario = generate_scenario(store, province=args.province, districts=args.district, seed=args.seed,
                                     rounds=args.rounds, noise=args.noise, causes=args.causes,
                                     every_round=args.every_round, revisit=args.revisit, kappa=args.kappa,
                                     coverage=args.coverage, township_share=args.township_share,
                                     office_categories=args.office_categories)
    paths = scenario.write(args.out)
    result = {**scenario.meta, "files": {k: str(v) for k, v in paths.items()}}
    if args.json:
        _print_json(result)
    else:
        print(f"scenario: {result['issues']:,} problems in {result['villages']:,} village-level units, "
              f"{result['causes']} planted root causes, written to {args.out}")
    return 0


def cmd_chain(args) -> int:
    from graph import service
    with closing(open_store(args.store)) as store:
        result = service.chain(store, args.issue_id)
    if args.json:
        _print_json(result)
        return 0
    issue = result["issue"]
    print(f"问题 {issue['issue_id']}：{issue.get('description', '')}（{issue['category']}，{issue['severity']}，{issue['status']}）")
    for level in result["levels"]:
        units = "；".join(f"{u['unit_name']}[{u['duty_zh']}]" for u in level["units"]) or "—"
        print(f"  {LEVEL_ZH.get(level['level'], level['level'])} {level['name']} ({level['code']}): {units}")
    if result["hint"]:
        hint = result["hint"]
        print(f"  巡察组提示根源单位: {hint['unit_name'] or hint['unit_id']}"
              f"{'' if hint['bears_duty'] else '（不在该类别权责清单内）'}")
    return 0


def _analysis_options(args) -> dict:
    return {"district": args.district, "level": args.level, "top": args.top, "min_confidence": args.min_confidence,
            "include_all": args.all}


def cmd_rootcauses(args) -> int:
    from graph import service
    from graph.reports import write_root_causes
    with closing(open_store(args.store)) as store:
        causes, notes = service.root_cause_report(store, **_analysis_options(args))
    if args.xlsx:
        write_root_causes(causes, args.xlsx)
    if args.json:
        _print_json(causes)
        return 0
    for note in notes:
        print(f"未检验 (not tested): {note}")
    if not causes:
        print("没有高于置信度阈值的根源单位 (no root cause above the confidence threshold)")
    for c in causes:
        e = c["evidence"]
        print(f"{c['rank']:>3}. {c['unit_name']} [{LEVEL_ZH[c['level']]}] {c['category']}: 得分 {c['score']:.1f}, "
              f"置信度 {c['confidence']:.4f}, 发现 {e['observed']} 个 (期望 {e['expected']:.1f}), "
              f"涉及 {e['villages_affected']} 个村(社区), 整改后复发 {e['recurrences']} 个村(社区)")
    if args.xlsx:
        print(f"written {args.xlsx}")
    return 0


def cmd_packages(args) -> int:
    from graph import service
    from graph.reports import write_packages
    with closing(open_store(args.store)) as store:
        packages = service.packages(store, **_analysis_options(args))
    if args.xlsx:
        write_packages(packages, args.xlsx)
    if args.json:
        _print_json(packages)
        return 0
    for p in packages:
        a, t = p["agency_end"], p["totals"]
        print(f"{p['package_id']} {p['root_cause']['category']}")
        print(f"  机关端: {a['unit_name']}（{a['duty_zh']}）{a['task']}，{a['due_on']} 前完成")
        print(f"  基层端: {t['villages']} 个村(社区)、{t['issues']} 个问题（未完成 {t['open_issues']}）")
    if args.xlsx:
        print(f"written {args.xlsx}")
    return 0


def cmd_template(args) -> int:
    from loaders.templates import write_templates
    paths = write_templates(args.dir)
    if args.json:
        _print_json({k: str(v) for k, v in paths.items()})
    else:
        for kind, path in paths.items():
            print(f"{kind}: {path}")
    return 0


def cmd_serve(args) -> int:
    import os

    import uvicorn

    from graph.settings import get_settings
    settings = get_settings()
    if args.store:  # the API reads its store from the settings, like every other process
        os.environ["XUNCHA_STORE"] = args.store
    uvicorn.run("api.main:app", host=args.host or settings.api_host, port=args.port or settings.api_port)
    return 0


# -- parser -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xuncha", description="巡察 responsibility-chain graph for village inspection")
    parser.add_argument("--store", help="sqlite:///PATH or neo4j://HOST:PORT (default: $XUNCHA_STORE or sqlite:///xuncha.db)")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func, text: str, json_output: bool = True) -> argparse.ArgumentParser:
        command_parser = sub.add_parser(name, help=text)
        # --store also after the command (xuncha stats --store ...); the global one is the default.
        command_parser.add_argument("--store", default=argparse.SUPPRESS, help="as the global --store")
        if json_output:
            command_parser.add_argument("--json", action="store_true", help="machine-readable output")
        command_parser.set_defaults(func=func)
        return command_parser

    load = command("load", cmd_load, "load divisions, categories, units, duties or issues")
    load.add_argument("table", choices=["divisions", "categories", "units", "duties", "issues"])
    load.add_argument("path", nargs="?", help="file (or, for divisions, directory; default: shipped Chongqing data)")
    load.add_argument("--province", help="divisions: only this 2-digit province")
    load.add_argument("--district", help="divisions: only this 6-digit district")

    command("stats", cmd_stats, "counts by kind, and per district villages and communities").add_argument("--district")
    command("show", cmd_show, "a division, its ancestors and its children's counts").add_argument("code")

    catalog = command("catalog", cmd_catalog, "the default responsibility catalog (权责清单)")
    catalog.add_argument("action", choices=["load", "units", "show"],
                         help="load: categories and duties; units: one unit per function per district and "
                              "township; show: print the catalog")
    catalog.add_argument("--district", action="append", help="units: this district (repeatable; default all loaded)")

    generate = command("generate", cmd_generate, "generate a scenario (units, duties, issues, truth.json)")
    generate.add_argument("what", choices=["scenario"])
    scope = generate.add_mutually_exclusive_group(required=True)
    scope.add_argument("--province")
    scope.add_argument("--district", action="append")
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--out", required=True)
    generate.add_argument("--rounds", type=int, default=2)
    generate.add_argument("--noise", type=float, default=0.5, help="spread of village risk (coefficient of variation)")
    generate.add_argument("--causes", type=int, help="planted root causes (default: a third of the districts, ≥ 2)")
    generate.add_argument("--every-round", action="store_true",
                          help="每轮巡察全部村(社区) (every village in each round; default: each township once)")
    generate.add_argument("--revisit", action="store_true", help="最后加一轮回头看 (an extra follow-up round)")
    generate.add_argument("--kappa", type=float,
                          help="村问题结构跨轮次持续 (a village's mix of problems persists; smaller: more clustered)")
    generate.add_argument("--coverage", type=float, default=1.0, help="已巡察村(社区)比例 (share of villages inspected)")
    generate.add_argument("--township-share", type=float, default=1.0,
                          help="已巡察乡镇(街道)比例 (share of townships inspected: mid-term)")
    generate.add_argument("--office-categories", type=int,
                          help="巡察办自有问题类别数, 中文表头, 无参考比例 (an office's own catalog of N categories)")

    command("chain", cmd_chain, "responsibility chain of a problem").add_argument("issue_id")

    for name, func, text in (("rootcauses", cmd_rootcauses, "surface higher-level root causes"),
                             ("packages", cmd_packages, "joint (机关+基层) rectification packages")):
        analysis = command(name, func, text)
        analysis.add_argument("--district")
        analysis.add_argument("--level", choices=["township", "district"])
        analysis.add_argument("--top", type=int)
        analysis.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
        analysis.add_argument("--all", action="store_true", help="every tested pair, not only the surfaced ones")
        analysis.add_argument("--xlsx", help="also write an Excel report here")

    command("template", cmd_template, "write empty Excel templates for units, duties and issues").add_argument("dir")

    serve = command("serve", cmd_serve, "run the HTTP API (binds 127.0.0.1 unless --host says otherwise)",
                    json_output=False)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"xuncha: bad input:\n{exc.summary()}", file=sys.stderr)
        return exc.exit_code
    except XunchaError as exc:
        print(f"xuncha: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
