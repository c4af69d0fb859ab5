"""CLI of the annotate stage: ``ddikg segment`` and the ``ddikg annotate`` group."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ddikg.cliutil import (
    NoProgressOpt,
    OnErrorOpt,
    RejectsOpt,
    console,
    fail,
    nothing_processed,
    on_error_value,
)


class Predictions(str, Enum):
    rules = "rules"  # the cue rules' relations
    record = "record"  # the file's own spo_list
    none = "none"


annotate_app = typer.Typer(help="Annotation tooling: validate, stats, pre-annotate, Label Studio round trip.",
                           no_args_is_help=True)

RawLexiconOpt = Annotated[
    list[Path] | None,
    typer.Option("--raw", help="Raw crawl files whose drug names extend the curated lexicon (repeatable)."),
]


def _lexicon(raw: list[Path] | None):
    from ddikg.annotate.lexicon import Lexicon
    from ddikg.contracts import RawDrugRecord
    from ddikg.jsonl import JsonlReader, RecordError

    if not raw:
        return Lexicon.load()
    try:
        records = [r for p in raw for r in JsonlReader(p, RawDrugRecord, require_records=True)]
    except (RecordError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    return Lexicon.from_records(records)


def _read_chddi(path: Path, on_error: str = "raise", rejects: Path | None = None):
    from ddikg.contracts import ChddiRecord
    from ddikg.jsonl import JsonlReader, RecordError, default_rejects_path

    mode = on_error_value(on_error)
    reader = JsonlReader(path, ChddiRecord, on_error=mode, rejects=rejects or default_rejects_path(path))
    try:
        records = reader.read_all()
    except (RecordError, FileNotFoundError) as exc:
        fail(str(exc))
    if reader.n_bad:
        console.print(f"[yellow]{escape(f'{path}: {reader.summary()}')}[/]", soft_wrap=True)
    if reader.nothing_read:
        nothing_processed(path, reader.n_bad, reader.rejects_path)
    return records


@annotate_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="CH-DDI JSONL files.")],
    max_errors: Annotated[int, typer.Option("--max-errors", help="Print at most this many problems per file.")] = 50,
) -> None:
    """Validate CH-DDI files (schema, spans in text, label set, duplicates); exit 1 on any problem.

    Every bad line is reported (file:line: field: message), so there is no --on-error here.
    """
    from ddikg.annotate.validate import validate_file

    bad = 0
    for path in files:
        report = validate_file(path)
        for issue in report.issues[:max_errors]:
            typer.echo(str(issue), err=True)
        if len(report.issues) > max_errors:
            typer.echo(f"... and {len(report.issues) - max_errors} more", err=True)
        typer.echo(report.line())
        bad += not report.ok
    raise typer.Exit(1 if bad else 0)


@annotate_app.command("stats")
def stats(
    files: Annotated[list[Path], typer.Argument(help="CH-DDI JSONL files (e.g. train.jsonl test.jsonl).")],
    png: Annotated[Path | None, typer.Option("--png", help="Also write a bar chart of relations per type.")] = None,
    overlap_with: Annotated[Path | None, typer.Option(
        "--overlap-with", help="Also report, per file, the share of statements whose masked wording occurs in "
                               "this file (e.g. test.jsonl --overlap-with train.jsonl).")] = None,
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Corpus statistics in the paper's Table 1/2 style, optionally with the masked-wording overlap."""
    from ddikg.annotate.stats import corpus_stats, stats_tables, wording_overlap, write_chart
    from ddikg.progress import print_table

    records = {p: _read_chddi(p, on_error, rejects) for p in files}
    table = {p.stem: corpus_stats(recs) for p, recs in records.items()}
    for t in stats_tables(table):
        print_table(t)
    if overlap_with is not None:
        reference = _read_chddi(overlap_with, on_error, rejects)
        typer.echo("")
        for p, recs in records.items():
            ov = wording_overlap(recs, reference)
            typer.echo(ov.line(p.name, overlap_with.name))
            for example in ov.examples:
                typer.echo(f"  e.g. {example}")
    if png is not None:
        typer.echo(f"chart -> {write_chart(table, png)}")


@annotate_app.command("lexicon")
def lexicon(
    out: Annotated[Path, typer.Option("--out", "-o", help="jieba user dictionary to write (WORD TAG lines).")],
    raw: RawLexiconOpt = None,
) -> None:
    """Write the drug lexicon (curated + names from --raw crawls) as a jieba user dictionary."""
    lex = _lexicon(raw)
    lex.write_userdict(out)
    kinds = sum(k == "dclass" for k in lex.entries.values())
    typer.echo(f"{len(lex)} entries ({len(lex) - kinds} drugs, {kinds} classes) -> {out}")


@annotate_app.command("prelabel")
def prelabel(
    path: Annotated[Path, typer.Argument(help="A segmented CH-DDI file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the pre-labelled CH-DDI file goes.")],
    raw: RawLexiconOpt = None,
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Fill spo_list with the cue rules' relations (jieba + lexicon entity candidates)."""
    from ddikg.annotate.rules import prelabel as rule_prelabel
    from ddikg.jsonl import write_jsonl

    lexicon = _lexicon(raw)
    records = [rule_prelabel(r, lexicon) for r in _read_chddi(path, on_error, rejects)]
    write_jsonl(out, records)
    typer.echo(f"{len(records)} statements, {sum(len(r.spo_list) for r in records)} relations -> {out}")


@annotate_app.command("baseline")
def baseline(
    gold: Annotated[Path | None, typer.Option("--gold", help="Gold CH-DDI file (default: the corpus test split).")] = None,
    raw: RawLexiconOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the rules' predictions here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the evaluator's metrics as JSON.")] = False,
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Score the rule pre-labels against gold with iser_model's evaluator: NER, RE, RE w/o entity types
    (micro and macro) and P/R/F1 per type, in %."""
    import json
    from importlib.resources import as_file

    from ddikg.annotate.chddi import CHDDI_TEST
    from ddikg.annotate.rules import prelabel as rule_prelabel
    from ddikg.annotate.scoring import score_records
    from ddikg.jsonl import write_jsonl

    lexicon = _lexicon(raw)
    with as_file(CHDDI_TEST) as default:
        gold_path = gold or default
        records = _read_chddi(gold_path, on_error, rejects)
    pred = [rule_prelabel(r.model_copy(update={"spo_list": []}), lexicon) for r in records]
    scores = score_records(records, pred)
    typer.echo(f"rule baseline on {gold_path} ({scores.statements} statements; ddikg.iser_model.evaluator)")
    if scores.set_aside_gold or scores.set_aside_pred:
        typer.echo(f"set aside (cannot be placed on the text): {scores.set_aside_gold} gold spo, "
                   f"{scores.set_aside_pred} predicted spo")
    typer.echo(scores.table())
    if as_json:
        typer.echo(json.dumps(scores.metrics, ensure_ascii=False, indent=2))
    if out is not None:
        write_jsonl(out, pred)
        typer.echo(f"predictions -> {out}")


@annotate_app.command("export-ls")
def export_ls(
    path: Annotated[Path, typer.Argument(help="A CH-DDI file (segmented, pre-labelled or predicted).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Label Studio tasks JSON to write.")],
    predictions: Annotated[Predictions, typer.Option(
        "--predictions", help="rules | record (the file's spo_list) | none")] = Predictions.rules,
    raw: RawLexiconOpt = None,
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Export statements as Label Studio tasks with span and relation predictions."""
    from ddikg.annotate.labelstudio import export_tasks, write_tasks

    lexicon = _lexicon(raw) if predictions is Predictions.rules else None
    tasks = export_tasks(_read_chddi(path, on_error, rejects), predictions=predictions.value, lexicon=lexicon)
    write_tasks(out, tasks)
    typer.echo(f"{len(tasks)} tasks -> {out} (labeling config: annotate/data/labelstudio_config.xml)")


@annotate_app.command("import-ls")
def import_ls(
    export: Annotated[Path, typer.Argument(help="A Label Studio JSON export (list of tasks) or JSONL.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CH-DDI file to write.")],
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Import a Label Studio export (annotations -> CH-DDI spo_list with spans)."""
    from ddikg.annotate.labelstudio import ImportProblem, import_export
    from ddikg.jsonl import default_rejects_path, write_jsonl

    mode = on_error_value(on_error)
    try:
        records, summary = import_export(export, on_error=mode,
                                         rejects=rejects or default_rejects_path(export.with_suffix(".jsonl")))
    except (ImportProblem, FileNotFoundError) as exc:
        fail(str(exc))
    if not records and not summary.unannotated:
        fail(f"{export}: nothing could be processed: "
             + (f"all {summary.rejected} tasks rejected" if summary.rejected else "no tasks"))
    write_jsonl(out, records)
    typer.echo(f"{summary.tasks} tasks -> {summary.imported} statements, {summary.relations} relations -> {out}; "
               f"{summary.unannotated} unannotated, {summary.unlinked_entities} entities without a relation, "
               f"{summary.rejected} rejected" + (f" -> {summary.rejects}" if summary.rejected else ""))
    raise typer.Exit(1 if summary.rejected else 0)


def register(app: typer.Typer) -> None:
    @app.command("segment")
    def segment(
        raw: Annotated[Path, typer.Argument(help="Raw crawl JSONL (RawDrugRecord lines).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="CH-DDI JSONL to write.")],
        only_changed: Annotated[bool, typer.Option("--only-changed",
                                                   help="Skip drugs the crawl marked unchanged.")] = False,
        on_error: OnErrorOpt = "raise",
        rejects: RejectsOpt = None,
        no_progress: NoProgressOpt = False,
    ) -> None:
        """@-segment raw drug records into CH-DDI statements (药名@statement, one per line)."""
        from ddikg.annotate.segment import segment_file
        from ddikg.jsonl import NoRecordsError, RecordError, default_rejects_path

        mode = on_error_value(on_error)
        try:  # an input with no usable record writes no output and exits 1
            summary = segment_file(raw, out, only_changed=only_changed, on_error=mode,
                                   rejects=rejects or default_rejects_path(raw), progress=not no_progress,
                                   require_records=True)
        except (RecordError, NoRecordsError, FileNotFoundError) as exc:
            fail(str(exc))
        typer.echo(summary.line())

    app.add_typer(annotate_app, name="annotate")
