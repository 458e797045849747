"""junit.xml: one test case per budget check, so CI systems show budgets like tests.

Case: classname ``ctxbench.<phase>``, name ``<query>[<variant>]{labels} <metric> <= <threshold>``.
FAIL → ``<failure>``, INCONCLUSIVE → ``<skipped>``, each with the estimate and its interval.
An incomplete run adds one ``ctxbench.run`` case with an ``<error>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ctxbench.analysis.verdicts import FAIL, INCONCLUSIVE
from ctxbench.report.content import fmt_labels, fmt_num
from ctxbench.results.summary_types import Summary, VerdictRow


def case_name(v: VerdictRow) -> str:
    labels = f"{{{fmt_labels(v['labels'])}}}" if v["labels"] else ""
    unit = f" {v['unit']}" if v["unit"] else ""
    return f"{v['query']}[{v['variant']}]{labels} {v['metric']} {v['op']} " \
           f"{fmt_num(v['threshold'])}{unit}"


def _message(v: VerdictRow) -> str:
    unit = f" {v['unit']}" if v["unit"] else ""
    if v["estimate"] is None:
        est = "no estimate"
    elif v["ci_low"] == v["ci_high"]:
        est = f"{v['metric']} = {fmt_num(v['estimate'])}{unit}"
    else:
        est = (f"{v['metric']} = {fmt_num(v['estimate'])}{unit} "
               f"[95% CI {fmt_num(v['ci_low'])}–{fmt_num(v['ci_high'])}]")
    return f"{v['verdict']}: {est}, n={v['n']}, budget {v['op']} " \
           f"{fmt_num(v['threshold'])}{unit}: {v['reason']}"


def render_junit(summary: Summary) -> str:
    run = summary["run"]
    verdicts = sorted(summary["verdicts"], key=lambda v: (v["phase"], v["query"], v["variant"],
                                                          sorted(v["labels"].items()),
                                                          v["metric"]))
    failures = sum(v["verdict"] == FAIL for v in verdicts)
    skipped = sum(v["verdict"] == INCONCLUSIVE for v in verdicts)
    errors = 0 if run["complete"] else 1
    tests = len(verdicts) + errors
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors),
              "skipped": str(skipped), "time": fmt_time(run.get("duration_s"))}
    root = ET.Element("testsuites", {"name": "ctxbench", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"ctxbench.{run.get('scenario') or 'run'}",
                                              **counts})
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", run.get("run_id")), ("scenario", run.get("scenario")),
                        ("status", run["status"]), ("verdict", summary["verdict"]["overall"]),
                        ("git_sha", run.get("git_sha"))):
        ET.SubElement(props, "property", {"name": name, "value": str(value or "")})
    if not run["complete"]:
        case = ET.SubElement(suite, "testcase", {"classname": "ctxbench.run",
                                                 "name": "run completed", "time": "0"})
        ET.SubElement(case, "error", {"message": f"run incomplete: "
                                                 f"{run.get('incomplete_reason')}",
                                      "type": "incomplete"})
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", {"classname": f"ctxbench.{v['phase']}",
                                                 "name": case_name(v), "time": "0"})
        message = _message(v)
        if v["verdict"] == FAIL:
            el = ET.SubElement(case, "failure", {"message": message, "type": "budget"})
            el.text = message
        elif v["verdict"] == INCONCLUSIVE:
            ET.SubElement(case, "skipped", {"message": message})
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ['<?xml version="1.0" encoding="UTF-8"?>\n', "\n"])


def fmt_time(seconds: float | None) -> str:
    return f"{seconds:.3f}" if seconds else "0"
