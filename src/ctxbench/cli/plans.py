"""``ctxbench plans``: read captured query plans and diff them node by node."""

from __future__ import annotations

from pathlib import Path

import typer

from ctxbench.cli.options import make_console

out = make_console()
plans_app = typer.Typer(help="Show captured query plans and diff two of them.",
                        no_args_is_help=True)

Query = typer.Option(None, "--query", "-q", help="Query name (e.g. list_incidents).",
                     show_default=False)
Phase = typer.Option(None, "--phase", "-p", help="Phase (a parent like after_analyze also "
                     "matches after_analyze.cold/.warm).", show_default=False)
Variant = typer.Option(None, "--variant", help="Query variant (default: any).",
                       show_default=False)
Md = typer.Option(None, "--md", help="Also write the output as Markdown to this file.",
                  show_default=False)


WIDE = 160  # below this, node tables become annotated outlines


def _emit(make, md: Path | None) -> None:
    """Print ``make(compact)`` for the terminal's width; Markdown always gets the tables."""
    from ctxbench.report.markdown import render_markdown
    from ctxbench.report.terminal import print_blocks

    print_blocks(out, make(out.width < WIDE))
    if md is not None:
        from ctxbench.results.store import write_user_file

        write_user_file(md, render_markdown(make(False)), "--md")
        out.print(f"markdown: {md}", highlight=False)


@plans_app.command("show")
def show(source: Path = typer.Argument(..., help="A results folder or a plan JSON file.",
                                       show_default=False),
         query: str | None = Query, phase: str | None = Phase, variant: str | None = Variant,
         md: Path | None = Md,
         raw: bool = typer.Option(False, "--raw", help="Print the plan's raw EXPLAIN (FORMAT "
                                  "JSON) array (for pev2 / explain.dalibo.com); needs exactly "
                                  "one matching plan.")) -> None:
    """Outline of each plan with rows (estimated vs actual), time and buffers per node."""
    from ctxbench.analysis.plan_select import load_plan_file, select_plans
    from ctxbench.errors import UsageError
    from ctxbench.report.plan_view import plan_blocks

    if raw:
        _raw(source, query, phase, variant)
        return

    if source.is_file():
        refs = [load_plan_file(source)]
    else:
        refs = select_plans(source, query=query, phase=phase, variant=variant)
        if not refs:
            raise UsageError(f"{source}: no captured plan matches"
                             + "".join(f" {k} {v!r}" for k, v in (("query", query),
                                                                  ("phase", phase),
                                                                  ("variant", variant)) if v))
    def make(compact: bool) -> list:
        blocks: list = []
        for ref in refs:
            blocks += plan_blocks(ref.title, ref.summary, compact)
        return blocks

    _emit(make, md)


def _raw(source: Path, query: str | None, phase: str | None, variant: str | None) -> None:
    import json

    from ctxbench.analysis.plan_select import _read_json, select_plans
    from ctxbench.errors import UsageError
    from ctxbench.report.exports import raw_plan

    if source.is_file():
        path = source
    else:
        refs = select_plans(source, query=query, phase=phase, variant=variant)
        exact = [r for r in refs if phase is None or r.phase == phase]
        refs = exact or refs
        if len(refs) != 1:
            listing = "; ".join(r.title for r in refs[:20]) or "none"
            raise UsageError(f"{source}: --raw prints one plan, {len(refs)} match ({listing}); "
                             "narrow it with --query, --phase and --variant")
        path = refs[0].path
    try:
        plan = raw_plan(_read_json(path))
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    typer.echo(json.dumps(plan, indent=2, ensure_ascii=False))


@plans_app.command("diff")
def diff(a: Path = typer.Argument(..., help="Plan JSON file or results folder (A).",
                                  show_default=False),
         b: Path | None = typer.Argument(None, help="Plan JSON file or results folder (B); "
                                         "omit with --against to compare two phases of A.",
                                         show_default=False),
         query: str | None = Query, phase: str | None = Phase, variant: str | None = Variant,
         against: str | None = typer.Option(None, "--against", help="Phase of B (or of A when "
                                            "B is omitted) to compare with --phase.",
                                            show_default=False),
         md: Path | None = Md) -> None:
    """Node-by-node diff of two plans with the change explained.

    Examples: `ctxbench plans diff RUN1 RUN2 --query list_incidents --phase warm`;
    `ctxbench plans diff RUN --query list_incidents --phase before_analyze.cold
    --against after_analyze.cold`; `ctxbench plans diff a.json b.json`.
    """
    from ctxbench.analysis.plan_select import load_plan_file, one_plan
    from ctxbench.errors import UsageError
    from ctxbench.report.plan_view import diff_blocks

    def side(path: Path, which_phase: str | None):
        if path.is_file():
            return load_plan_file(path)
        if not path.exists():
            raise UsageError(f"{path}: no such plan file or results folder")
        return one_plan(path, query=query, phase=which_phase, variant=variant)

    if b is None:
        if against is None:
            raise UsageError("plans diff: give a second plan/results folder B, or --against "
                             "PHASE to compare two phases of A")
        if a.is_file():
            raise UsageError(f"{a}: --against needs a results folder, not a single plan file")
        ref_a, ref_b = side(a, phase), side(a, against)
    else:
        ref_a, ref_b = side(a, phase), side(b, against or phase)
    title_a = ref_a.title if b is None else f"A {ref_a.title}"
    title_b = ref_b.title if b is None else f"B {ref_b.title}"
    _emit(lambda compact: diff_blocks(title_a, ref_a.summary, title_b, ref_b.summary,
                                      compact)[0], md)


def register(app: typer.Typer) -> None:
    app.add_typer(plans_app, name="plans")
