"""CLI of the model stage: ``ddikg train``, ``ddikg evaluate``, ``ddikg extract``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ddikg.cliutil import DeviceOpt, NoProgressOpt, OnErrorOpt, RejectsOpt, console, fail, on_error_value


class DataFormat(str, Enum):
    """``--format`` (see :mod:`ddikg.iser_model.readers`)."""

    auto = "auto"
    spert = "spert"
    chddi = "chddi"
    cmeie = "cmeie"


FormatOpt = Annotated[DataFormat, typer.Option("--format", help="The data file's format (auto: detect).")]


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        train_file: Annotated[Path | None, typer.Option(
            "--train", help="Training data (SpERT JSON or CH-DDI/CMeIE JSONL; default: the CH-DDI train split).")]
        = None,
        val_file: Annotated[Path | None, typer.Option(
            "--val", "--dev", help="Validation data: evaluated every N epochs, selects the epoch kept. Never the set "
            "you report (that is --test, or `ddikg evaluate`). Default: the CH-DDI dev split with the default "
            "--train, else a slice of --train (--val-fraction).")] = None,
        val_fraction: Annotated[float | None, typer.Option(
            "--val-fraction", help="Without --val: this fraction of the training documents, whole source drugs "
            "together, drawn with a fixed seed (IserConfig.val_seed), is the validation set (default 0.1).")] = None,
        test_file: Annotated[Path | None, typer.Option(
            "--test", help="Reported data: evaluated after training at the selected and the last epoch.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Checkpoint directory (default <home>/models/<id>).")]
        = None,
        config: Annotated[Path | None, typer.Option(
            "--config", help="IserConfig JSON (default: the demo preset, or the paper's settings with --encoder).")]
        = None,
        encoder: Annotated[str | None, typer.Option("--encoder", help="HF name or path of a pretrained encoder.")]
        = None,
        epochs: Annotated[int | None, typer.Option("--epochs")] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
        seed: Annotated[int | None, typer.Option("--seed")] = None,
        device: DeviceOpt = None,
        data_format: FormatOpt = DataFormat.auto,
        on_error: OnErrorOpt = "raise",
        no_progress: NoProgressOpt = False,
    ) -> None:
        """Train an ISER model; the checkpoint of the epoch with the best validation RE micro F1 is kept."""
        from ddikg.config import load_settings
        from ddikg.iser_model import api
        from ddikg.iser_model.config import IserConfig
        from ddikg.iser_model.presets import demo_config

        settings = load_settings()
        # --config wins; --encoder alone starts from the paper's hyper-parameters (IserConfig defaults);
        # neither: the scratch demo preset
        try:
            cfg = IserConfig.load(config) if config else (IserConfig() if encoder else demo_config())
        except ValueError as exc:  # not JSON, or not an IserConfig
            fail(f"{config}: not a valid ISER config: {exc}")
        update = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, seed=seed,
                                        val_fraction=val_fraction).items() if v is not None}
        if encoder:
            update |= {"encoder": encoder, "scratch": None}
        update["device"] = device or (cfg.device if config else settings.model.device)
        cfg = cfg.model_copy(update=update)
        out_dir = out or settings.models_dir / cfg.model_id
        from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN

        if train_file is None:  # the CH-DDI train split, validated on its dev split unless told otherwise
            train_file = Path(str(CHDDI_TRAIN))
            val_file = val_file or (None if val_fraction else Path(str(CHDDI_DEV)))
        try:
            result = api.train(train_file, val_file, out_dir, config=cfg, test_path=test_file,
                               data_format=data_format.value, progress=not no_progress,
                               on_error=on_error_value(on_error))
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        from ddikg.iser_model.distributed import env_rank
        from ddikg.iser_model.evaluator import rich_tables

        if env_rank() != 0:  # under torchrun: rank 0 reports (it alone evaluated and saved)
            return
        if result.test_selected is not None:
            console.print(f"test set, selected epoch {result.best_epoch}:")
            console.print(*rich_tables(result.test_selected))
        else:
            console.print(f"validation set, selected epoch {result.best_epoch} (not a reported figure):")
            console.print(*rich_tables(result.best_validation))
        typer.echo(json.dumps(result.model_dump(mode="json", exclude={"best_validation", "last_validation",
                                                                       "test_selected", "test_last"}),
                              ensure_ascii=False))

    @app.command("evaluate")
    def evaluate(
        model: Annotated[Path, typer.Option("--model", help="Checkpoint directory.")],
        data: Annotated[Path, typer.Option("--data", help="Gold data (SpERT JSON or CH-DDI/CMeIE JSONL).")],
        data_format: FormatOpt = DataFormat.auto,
        device: DeviceOpt = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
        on_error: OnErrorOpt = "raise",
        rejects: RejectsOpt = None,
        no_progress: NoProgressOpt = False,
        max_entities: Annotated[int | None, typer.Option(
            "--max-entities", help="Pair only each sentence's top-N entities (default: all, as the paper).")] = None,
    ) -> None:
        """Evaluate a model: NER / RE / RE without entity types, micro and macro (JSON on stdout)."""
        from ddikg.iser_model import api
        from ddikg.iser_model.evaluator import rich_tables

        try:
            metrics = api.evaluate(model, data, data_format=data_format.value, device=device or "auto",  # type: ignore[arg-type]
                                   batch_size=batch_size, rejects=rejects, on_error=on_error_value(on_error),
                                   progress=not no_progress, max_entities=max_entities)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        console.print(*rich_tables(metrics))
        typer.echo(json.dumps(metrics, ensure_ascii=False, indent=2))

    @app.command("extract")
    def extract(
        model: Annotated[Path, typer.Option("--model", help="Checkpoint directory.")],
        in_path: Annotated[Path, typer.Option("--in", help="CH-DDI statements (JSONL).")],
        out: Annotated[Path, typer.Option("--out", help="Triples JSONL (ddikg.contracts.Triple).")],
        records_out: Annotated[Path | None, typer.Option("--records-out", help="Predicted CH-DDI records.")] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
        device: DeviceOpt = None,
        run_id: Annotated[str | None, typer.Option("--run-id")] = None,
        no_constraints: Annotated[bool, typer.Option(
            "--no-constraints", help="Score every entity pair, not only drug-drug, and keep overlapping entity spans.",
        )] = False,
        max_entities: Annotated[int | None, typer.Option(
            "--max-entities", help="Pair only each statement's top-N entities (speed; default: the checkpoint's "
            "max_entities, unset = all).")] = None,
        on_error: OnErrorOpt = "raise",
        rejects: RejectsOpt = None,
        no_progress: NoProgressOpt = False,
    ) -> None:
        """Extract DDI triples from CH-DDI statements with a trained model."""
        from ddikg.config import load_settings
        from ddikg.iser_model import api

        settings = load_settings()
        try:
            summary = api.extract(model, in_path, records_out, out, batch_size=batch_size or settings.model.batch_size,
                                  device=device or settings.model.device, run_id=run_id,
                                  ddi_constraints=not no_constraints, on_error=on_error_value(on_error),
                                  rejects=rejects, progress=not no_progress, require_records=True,
                                  max_entities=max_entities)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        typer.echo(json.dumps(summary.model_dump(mode="json"), ensure_ascii=False))
