"""Every file-reading command against bad input: a missing path, a directory, an empty file, a file of
another contract, a malformed line, a non-UTF-8 byte and a UTF-8 BOM.

Each must end quickly (the commands run in-process under a watchdog) with one ``error:`` line that
names the file (and the line, where there is one), a non-zero exit where nothing could be processed,
and no traceback; a BOM is accepted. The commands are listed by hand, and
``test_every_file_reading_command_is_in_the_table`` checks the list against ``ddikg --help``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ddikg.cli import app
from ddikg.labels import INTERACTION_SECTION
from tests.conftest import REPO

runner = CliRunner()
TIMEOUT_S = 120  # a hang fails the test instead of the session (training the BOM case takes seconds)

RAW = {"drug_id": "1", "name": "阿司匹林", "url": "https://example.org/drug/1",
       "sections": {INTERACTION_SECTION: "与华法林合用，出血风险增加。禁与甲氨蝶呤合用。"}}
CHDDI = {"text": "阿司匹林@与华法林合用，出血风险增加", "spo_list": [
    {"predicate": "协同", "subject": "华法林", "object": {"@value": "阿司匹林"}}]}
TRIPLE = {"subject": "华法林", "predicate": "协同", "object": "阿司匹林", "score": 0.9,
          "evidence": "阿司匹林@与华法林合用，出血风险增加", "source_drug": "阿司匹林", "model_id": "iser-test",
          "extracted_at": "2026-11-01T02:00:00+00:00"}
LS_TASK = {"id": 7, "data": {"text": "某药片@禁与华法林合用"}, "annotations": [{"id": 1, "was_cancelled": False, "result": [
    {"id": "a", "type": "labels", "from_name": "label", "to_name": "text",
     "value": {"start": 6, "end": 9, "text": "华法林", "labels": ["药物"]}},
    {"id": "b", "type": "labels", "from_name": "label", "to_name": "text",
     "value": {"start": 0, "end": 3, "text": "某药片", "labels": ["药物"]}},
    {"from_id": "a", "to_id": "b", "type": "relation", "direction": "right", "labels": ["禁忌"]}]}]}
GOOD = {"raw": RAW, "chddi": CHDDI, "triple": TRIPLE, "ls": LS_TASK}
OTHER = {"raw": TRIPLE, "chddi": TRIPLE, "triple": CHDDI, "ls": TRIPLE}  # a file of another contract


@dataclass(frozen=True)
class Command:
    name: str
    contract: str  # what its input file holds
    args: tuple[str, ...]  # {in} = the input file, {out} = a fresh output path, {model}, {config}, {home}
    loc: str = "line"  # how errors locate a bad record: "line" (file:N) or "task" (Label Studio task #)


COMMANDS = [
    Command("check", "chddi", ("check", "{in}", "-c", "chddi")),
    Command("segment", "raw", ("segment", "{in}", "-o", "{out}")),
    Command("annotate validate", "chddi", ("annotate", "validate", "{in}")),
    Command("annotate stats", "chddi", ("annotate", "stats", "{in}")),
    Command("annotate lexicon", "raw", ("annotate", "lexicon", "-o", "{out}", "--raw", "{in}")),
    Command("annotate prelabel", "chddi", ("annotate", "prelabel", "{in}", "-o", "{out}")),
    Command("annotate baseline", "chddi", ("annotate", "baseline", "--gold", "{in}")),
    Command("annotate export-ls", "chddi", ("annotate", "export-ls", "{in}", "-o", "{out}")),
    Command("annotate import-ls", "ls", ("annotate", "import-ls", "{in}", "-o", "{out}"), loc="task"),
    Command("train", "chddi", ("train", "--train", "{in}", "--dev", "{in}", "--out", "{out}", "--config", "{config}",
                               "--no-progress")),
    Command("evaluate", "chddi", ("evaluate", "--model", "{model}", "--data", "{in}")),
    Command("extract", "chddi", ("extract", "--model", "{model}", "--in", "{in}", "--out", "{out}")),
    Command("load", "triple", ("load", "{in}")),
    Command("load --raw", "raw", ("load", "{triples}", "--raw", "{in}")),
    Command("export-csv", "triple", ("export-csv", "{in}", "-o", "{out}")),
    Command("export-csv --raw", "raw", ("export-csv", "{triples}", "-o", "{out}", "--raw", "{in}")),
]
CASES = ["missing", "directory", "empty", "wrong-contract", "malformed", "not-utf8", "bom"]


TRUNCATED = '{"text": "阿司匹林@与华法林合用", '  # JSON fails at its end: column len + 1 (characters)


def _line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def make_input(case: str, contract: str, tmp: Path) -> Path:
    path = tmp / "in.jsonl"
    good = _line(GOOD[contract])
    content = {
        "empty": b"",
        "wrong-contract": _line(OTHER[contract]),
        "malformed": good + TRUNCATED.encode() + b"\n",  # a cut-off second line
        "not-utf8": good + good[:10] + b"\xff" + good[10:],  # one bad byte on line 2, after '{"text": "'
        "bom": b"\xef\xbb\xbf" + good,
    }
    if case == "missing":
        return path
    if case == "directory":
        path.mkdir()
        return path
    path.write_bytes(content[case])
    return path


def invoke(args: list[str], env: dict[str, str] | None = None):
    """CliRunner.invoke under a watchdog: a command that hangs fails its test instead of blocking."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", runner.invoke(app, args, env=env)), daemon=True)
    t.start()
    t.join(TIMEOUT_S)
    if t.is_alive():
        pytest.fail(f"ddikg {' '.join(args)} did not end within {TIMEOUT_S} s")
    return box["r"]


def error_lines(result) -> list[str]:
    return [ln for ln in result.output.splitlines() if ln.startswith("error:")]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """A tiny saved checkpoint, a tiny training config, a graph server, a valid triples file."""
    import torch

    from ddikg.config import load_settings
    from ddikg.iser_model.checkpoint import save_checkpoint
    from ddikg.kg_loader.server import EmbeddedGraphServer
    from tests.iser_model.helpers import tiny_model
    from tests.kg_loader.conftest import free_port

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the BOM cases train and evaluate for real: one thread on a shared machine
    root = tmp_path_factory.mktemp("bad-input")
    model, tok = tiny_model()
    model_dir = save_checkpoint(root / "model", model, tok)
    cfg = model.cfg.model_copy(update={"epochs": 1, "device": "cpu", "model_id": "iser-bad-input"})
    config = root / "config.json"
    config.write_text(cfg.model_dump_json(), encoding="utf-8")
    triples = root / "triples.jsonl"
    triples.write_bytes(_line(TRIPLE))
    home = root / "home"
    settings = load_settings(home=home, graph={"port": free_port()})
    server = EmbeddedGraphServer(settings)
    server.start()
    env = {"DDIKG_HOME": str(home), "DDIKG_GRAPH__PORT": str(settings.graph.port), "DDIKG_CONFIG": None,
           "NEO4J_URI": None}
    try:
        yield {"model": model_dir, "config": config, "triples": triples, "env": env}
    finally:
        server.stop()
        torch.set_num_threads(threads)


def _args(cmd: Command, path: Path, tmp: Path, fx: dict) -> list[str]:
    out = tmp / "out" if cmd.name == "train" or cmd.name.startswith("export-csv") else tmp / "out.jsonl"
    values = {"{in}": str(path), "{out}": str(out), "{model}": str(fx["model"]), "{config}": str(fx["config"]),
              "{triples}": str(fx["triples"])}
    return [values.get(a, a) for a in cmd.args]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name for c in COMMANDS])
def test_bad_input(cmd: Command, case: str, fixtures, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = make_input(case, cmd.contract, tmp_path)
    result = invoke(_args(cmd, path, tmp_path, fixtures), env=fixtures["env"])
    out = result.output
    assert "Traceback" not in out
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{cmd.name} / {case}: uncaught {result.exception!r}\n{out}") from result.exception
    if case == "bom":
        assert result.exit_code == 0, out
        assert not error_lines(result), out
        return
    assert result.exit_code != 0, out
    if cmd.name == "annotate validate":  # reports every problem as file:line: field: message, no error: line
        problems = [ln for ln in out.splitlines() if ln.startswith(str(path))]
        assert problems, out
        line = problems[0]
    else:
        errors = error_lines(result)
        assert len(errors) == 1, out
        line = errors[0]
    assert str(path) in line, out
    if case == "directory":
        assert "directory" in line
    elif case == "missing":
        assert "no such file" in line.lower()
    elif case == "empty":
        assert "no records" in line or "no tasks" in line
    elif case == "wrong-contract":
        assert (f"{path}:1:" in line) if cmd.loc == "line" else ("task #0" in line), line
    elif case in ("malformed", "not-utf8"):
        assert (f"{path}:2:" in line) if cmd.loc == "line" else ("line 2" in line), line
        assert ("not UTF-8: byte 0xff at column 11" if case == "not-utf8"
                else f"invalid JSON at column {len(TRUNCATED) + 1}") in line, line


def _leaves(node, prefix: str = "") -> dict:
    """Every command of the ``ddikg`` tree by its full name (typer's own command classes)."""
    sub = getattr(node, "commands", None)
    if sub is None:
        return {prefix.strip(): node}
    out = {}
    for name, child in sub.items():
        out |= _leaves(child, f"{prefix}{name} ")
    return out


def _options(cmd: Command) -> set[str]:
    from typer.main import get_command

    leaves = _leaves(get_command(app))
    words = list(itertools.takewhile(lambda w: not w.startswith(("-", "{")), cmd.args))  # the command's name
    node = leaves[" ".join(words)]
    return {o for p in node.params for o in p.opts}


@pytest.mark.parametrize("case", ["malformed", "not-utf8", "wrong-contract"])
@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.name not in ("annotate validate",)],
                         ids=[c.name for c in COMMANDS if c.name not in ("annotate validate",)])
def test_skip_sets_bad_lines_aside(cmd: Command, case: str, fixtures, tmp_path, monkeypatch):
    """With --on-error skip a bad line is set aside and the rest goes on; a file with nothing usable
    still exits 1."""
    if "--on-error" not in _options(cmd):
        pytest.skip(f"{cmd.name} has no --on-error")
    monkeypatch.chdir(tmp_path)
    path = make_input(case, cmd.contract, tmp_path)
    result = invoke([*_args(cmd, path, tmp_path, fixtures), "--on-error", "skip"], env=fixtures["env"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if case == "wrong-contract":  # its only line is rejected: nothing was processed
        assert result.exit_code != 0, result.output
        # (train and evaluate detect the data format from line 1 first: it names neither format)
        assert "nothing could be processed" in result.output or f"{path}:1: <record>: cannot detect" in result.output
    elif cmd.name in ("check", "annotate import-ls"):  # line 1 read, line 2 rejected: the check itself fails
        assert result.exit_code == 1 and "1 rejected" in result.output.replace("\n", ""), result.output
    else:
        assert result.exit_code == 0, result.output


def test_every_file_reading_command_is_in_the_table():
    """Each command with an input-file argument or option is in COMMANDS."""
    from typer.main import get_command

    found = set()
    for full, node in _leaves(get_command(app)).items():
        paths = [p for p in node.params if "Path" in repr(p.type_descriptor.annotation)]
        names = {o for p in paths for o in p.opts}
        if names - {"--out", "-o", "--rejects", "--records-out", "--png", "--home", "--jobdir", "--config",
                    "--profile", "--content", "--model"}:
            found.add(full)

    table = {c.name.split(" --")[0] for c in COMMANDS}
    # crawl (--profile, --jobdir: not contract files) and fixture-site (--content: read by its own server)
    # are covered by their stage's tests
    assert found - {"crawl", "fixture-site"} <= table, sorted(found - table)
    assert len(table) >= 9


def test_empty_training_file_ends_in_a_subprocess(tmp_path):
    """The case that used to hang for ever (detect_format looping at end of file), as a real process
    under a timeout."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    env = os.environ | {"PYTHONPATH": str(REPO), "DDIKG_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "ddikg.cli", "train", "--train", str(empty), "--dev", str(empty),
                           "--out", str(tmp_path / "m"), "--no-progress"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert f"{empty}: nothing could be processed: no records" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m").exists()  # nothing left behind


def _one_error(result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:") or "Invalid value" in ln]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize("args", [
    ["check", "{in}", "--contract", "chdi"],
    ["check", "{in}", "-c", "chddi", "--on-error", "skipp"],
    ["evaluate", "--model", "{model}", "--data", "{in}", "--format", "jsonl"],
    ["evaluate", "--model", "{model}", "--data", "{in}", "--device", "gpu"],
    ["annotate", "export-ls", "{in}", "-o", "{out}", "--predictions", "rule"],
], ids=["contract", "on-error", "format", "device", "predictions"])
def test_a_typo_in_a_choice_is_a_usage_error(args, fixtures, tmp_path):
    path = make_input("bom", "chddi", tmp_path)
    values = {"{in}": str(path), "{out}": str(tmp_path / "o.json"), "{model}": str(fixtures["model"])}
    result = invoke([values.get(a, a) for a in args], env=fixtures["env"])
    assert result.exit_code == 2, result.output  # click's usage error
    assert "Invalid value for" in _one_error(result)


def test_environment_faults_are_one_line(fixtures, tmp_path):
    import torch

    path = make_input("bom", "chddi", tmp_path)
    env = fixtures["env"]
    if not torch.cuda.is_available():
        res = invoke(["evaluate", "--model", str(fixtures["model"]), "--data", str(path), "--device", "cuda"], env)
        assert res.exit_code == 1 and "CUDA is not available" in _one_error(res)

    broken = tmp_path / "broken-model"
    broken.mkdir()
    for f in fixtures["model"].rglob("*"):
        if f.is_file():
            target = broken / f.relative_to(fixtures["model"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    res = invoke(["evaluate", "--model", str(broken), "--data", str(path)], env)
    assert res.exit_code == 1 and f"{weights}: cannot read the weights" in _one_error(res)

    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    res = invoke(["export-csv", str(fixtures["triples"]), "-o", str(a_file)], env)
    assert res.exit_code == 1 and "exists and is not a directory" in _one_error(res)
    res = invoke(["train", "--train", str(path), "--dev", str(path), "--out", str(a_file), "--config",
                  str(fixtures["config"])], env)
    assert res.exit_code == 1 and "exists and is not a directory" in _one_error(res)

    out_dir = tmp_path / "crawl-out"
    out_dir.mkdir()
    res = invoke(["crawl", "--out", str(out_dir), "--base-url", "http://127.0.0.1:9", "--no-progress"], env)
    assert res.exit_code == 1 and f"--out {out_dir}: is a directory" in _one_error(res)


@pytest.mark.parametrize("cmd", ["train", "export-csv"])
def test_a_failed_command_leaves_no_output_directory(cmd, fixtures, tmp_path):
    path = make_input("malformed", "chddi" if cmd == "train" else "triple", tmp_path)
    out = tmp_path / "fresh" / "out"
    args = (["train", "--train", str(path), "--dev", str(path), "--out", str(out), "--config", str(fixtures["config"])]
            if cmd == "train" else ["export-csv", str(path), "-o", str(out)])
    res = invoke(args, fixtures["env"])
    assert res.exit_code == 1 and f"{path}:2:" in _one_error(res)
    assert not out.exists()


def test_an_output_that_cannot_be_written_is_one_line(fixtures, tmp_path):
    """The root group's net: an OSError no command words itself (here: a file where a directory must be)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    res = invoke(["annotate", "lexicon", "-o", str(a_file / "lexicon.txt")], fixtures["env"])
    assert res.exit_code == 1 and f"{a_file / 'lexicon.txt'}: Not a directory" in _one_error(res)
