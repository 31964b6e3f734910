"""``tidemark validate``, ``tables`` and ``docs``: looking at mappings without running them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.observing import print_json
from tidemark.cli.render import print_whole, styled
from tidemark.errors import TidemarkError

if TYPE_CHECKING:
    from tidemark.compile.plan import Plan

out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """``tidemark validate``, ``tables`` and ``docs`` (one line in cli/main.py)."""
    app.command()(validate)
    app.command()(tables)
    app.command()(docs)


def validate(
    mappings: Annotated[list[str], typer.Argument(help="Mapping files or built-in names; mlb:* for all of mlb.")],
    sink: Annotated[str | None, typer.Option(help="Check names against this store (default: the strictest).")] = None,
    sample: Annotated[
        list[Path] | None,
        typer.Option(help="Documents (files, directories) to try the mapping on: paths that never resolve (repeat)."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="With --sample: exit 1 on a finding too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON (only that on stdout).")] = False,
) -> None:
    """Check mapping files; print every problem with file:line:col and its YAML path."""
    from tidemark.mapping.loader import expand_refs

    found = [_validate_one(ref, sink) for ref in expand_refs(mappings)]
    failed = not all(f["ok"] for f in found)
    if as_json:
        for f in found:
            if f["ok"] and sample:
                f["sample"] = _sample_dict(f["mapping"], sample)
                failed = failed or (strict and not f["sample"]["ok"])
        print_json({"ok": not failed, "mappings": found})
    for f in [] if as_json else found:
        if f["ok"]:
            out.print(styled("✓", "green", f" {f['path']}: {f['tables']} tables"))
            if sample and _print_sample(f["mapping"], sample) and strict:
                failed = True
        elif f["path"] is None:  # it did not load: the loader's message, as it words it
            err.print(styled("✗", "red", " " + "\n".join(f["problems"])))
        else:
            err.print("\n".join(f"✗ {line}" for line in f["problems"]))
    if failed:
        raise typer.Exit(1)


def _sample_dict(mapping: str, sample: list[Path]) -> dict[str, Any]:
    """``validate --sample --json``: what the sample showed, as plain data."""
    from tidemark.runtime.sample import check_sample

    report = check_sample(mapping, sample)
    return {
        "ok": bool(report.ok and report.documents),
        "documents": report.documents,
        "rows": dict(report.rows),
        "findings": [str(f) for f in report.findings],
        "rejected": [{"origin": str(d.origin), "reason": d.reason} for d in report.rejected],
    }


def _validate_one(ref: str, sink: str | None) -> dict[str, Any]:
    """What ``tidemark validate`` found in one mapping: ok, its path and tables, or its problems (one per line)."""
    from tidemark.mapping.loader import load_mapping
    from tidemark.sinks.names import mapping_name_problems

    try:
        mapping, path = load_mapping(ref)
    except TidemarkError as exc:
        return {"mapping": ref, "ok": False, "path": None, "tables": None, "problems": str(exc).splitlines()}
    names = mapping_name_problems(mapping, path, sink)
    return {"mapping": ref, "ok": not names, "path": str(path), "tables": len(mapping.targets), "problems": names}


def _print_sample(mapping: str, sample: list[Path]) -> bool:
    """Try ``mapping`` on the sample documents; print what never resolved. True when something was found."""
    from tidemark.runtime.sample import check_sample

    report = check_sample(mapping, sample)
    out.print(f"  sample: {report.documents:,} document(s), {sum(report.rows.values()):,} row(s)")
    for finding in report.findings:
        err.print(f"warning: {finding}")
    for doc in report.rejected:
        err.print(f"warning: {doc.origin}: document rejected: {doc.reason}")
    if not report.documents:
        err.print("warning: the sample holds no document the mapping accepts")
    return not report.ok or not report.documents


def tables(
    mapping: Annotated[str, typer.Argument(help="Mapping file or built-in name; mlb:* for all of mlb.")],
) -> None:
    """List the tables a mapping produces, with keys, scope and parent (mlb:*: a list per built-in mapping)."""
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import expand_refs, load_mapping

    refs = expand_refs([mapping])
    for ref in refs:
        plan = compile_mapping(load_mapping(ref)[0])
        _print_tables(plan, ref if ref != mapping else plan.source_name)


def _print_tables(plan: Plan, label: str) -> None:
    grid = Table(title=f"{label}: {len(plan.targets)} tables")
    grid.add_column("table", no_wrap=True)
    for col in ("rows", "primary key", "scope", "columns", "parent"):
        grid.add_column(col)
    for t in plan.targets:
        grid.add_row(
            t.name,
            t.rows.text + (f" [{len(t.filter)} filter]" if t.filter else ""),
            ", ".join(t.spec.primary_key),
            ", ".join(t.spec.scope),
            str(len(t.spec.columns)),
            t.parent or "",
        )
    print_whole(out, grid)


def docs(
    mappings: Annotated[list[str], typer.Argument(help="Mapping files or built-in names; mlb:* for all of mlb.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the Markdown pages.")],
    title: Annotated[str, typer.Option(help="Title of the index page.")] = "Table reference",
) -> None:
    """Generate a Markdown table reference (columns, types, keys, source paths) from mappings."""
    from tidemark.docs_gen import write

    written = write(mappings, output, title)
    out.print(f"wrote {len(written)} pages to {output}", highlight=False)
