"""Label Studio round trip: tasks with predictions out, a Label Studio export back in."""

from __future__ import annotations

import json
from importlib.resources import as_file

import pytest
from typer.testing import CliRunner

from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TEST, CHDDI_TRAIN, LABELSTUDIO_CONFIG
from ddikg.annotate.labelstudio import ImportProblem, export_tasks, import_export, write_tasks
from ddikg.cli import app
from ddikg.contracts import ChddiRecord
from ddikg.jsonl import read_jsonl
from ddikg.labels import RELATION_LABELS


def _as_label_studio_export(tasks):
    """What Label Studio's JSON export holds after an annotator accepts every prediction as is."""
    out = []
    for i, task in enumerate(tasks, start=1):
        result = task["predictions"][0]["result"] if task.get("predictions") else []
        out.append({
            "id": i, "project": 1, "data": task["data"],
            "annotations": [{"id": 1000 + i, "completed_by": 1, "result": json.loads(json.dumps(result)),
                             "was_cancelled": False, "ground_truth": False, "lead_time": 3.2,
                             "created_at": "2026-11-25T10:00:00.000000Z",
                             "updated_at": "2026-11-25T10:00:00.000000Z", "task": i}],
            "predictions": task.get("predictions", []),
            "created_at": "2026-11-25T09:00:00.000000Z", "updated_at": "2026-11-25T10:00:00.000000Z",
        })
    return out


def _corpus():
    out = []
    for res in (CHDDI_TRAIN, CHDDI_DEV, CHDDI_TEST):
        with as_file(res) as p:
            out += read_jsonl(p, ChddiRecord)
    return out


def test_export_then_import_is_identity_on_the_chddi_corpus(tmp_path):
    records = _corpus()
    tasks = export_tasks(records, predictions="record")
    assert len(tasks) == len(records)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_as_label_studio_export(tasks), ensure_ascii=False), encoding="utf-8")
    back, summary = import_export(path)
    assert back == records
    assert summary.imported == len(records) and summary.relations == sum(len(r.spo_list) for r in records)
    assert summary.unannotated == 0 and summary.rejected == 0


def test_task_format_and_rule_predictions():
    rec = ChddiRecord(text="布美他尼片@与多巴胺合用,利尿作用加强")
    (task,) = export_tasks([rec], predictions="rules")
    assert task["data"]["text"] == rec.text
    result = task["predictions"][0]["result"]
    regions = {r["id"]: r for r in result if r["type"] == "labels"}
    (rel,) = [r for r in result if r["type"] == "relation"]
    assert rel["labels"] == ["协同"] and rel["direction"] == "right"
    assert regions[rel["from_id"]]["value"]["text"] == "多巴胺"
    assert regions[rel["to_id"]]["value"] | {} == {"start": 0, "end": 5, "text": "布美他尼片", "labels": ["药物"]}
    assert all(r["from_name"] == "label" and r["to_name"] == "text" for r in regions.values())


def test_labeling_config_names_the_entity_and_relations():
    xml = LABELSTUDIO_CONFIG.read_text(encoding="utf-8")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    assert [r.get("value") for r in root.iter("Relation")] == list(RELATION_LABELS)
    assert [lb.get("value") for lb in root.iter("Label")] == ["药物"]
    assert root.find("Labels").get("name") == "label" and root.find("Text").get("name") == "text"


def _one_task(result, text="某药片@禁与华法林合用", annotations=True):
    task = {"id": 7, "data": {"text": text}}
    if annotations:
        task["annotations"] = [{"id": 1, "result": result, "was_cancelled": False}]
    return task


def _regions():
    return [{"id": "a", "type": "labels", "from_name": "label", "to_name": "text",
             "value": {"start": 6, "end": 9, "text": "华法林", "labels": ["药物"]}},
            {"id": "b", "type": "labels", "from_name": "label", "to_name": "text",
             "value": {"start": 0, "end": 3, "text": "某药片", "labels": ["药物"]}}]


def test_left_direction_unlinked_and_unannotated(tmp_path):
    result = _regions() + [{"id": "c", "type": "labels", "value": {"start": 4, "end": 5, "labels": ["药物"]}},
                           {"from_id": "b", "to_id": "a", "type": "relation", "direction": "left",
                            "labels": ["禁忌"]}]
    path = tmp_path / "e.json"
    path.write_text(json.dumps([_one_task(result), _one_task([], annotations=False)], ensure_ascii=False),
                    encoding="utf-8")
    (rec,), summary = import_export(path)
    (spo,) = rec.spo_list
    assert (spo.subject, spo.object_text, spo.subject_span, spo.object_span) == ("华法林", "某药片", (6, 9), (0, 3))
    assert (summary.unannotated, summary.unlinked_entities) == (1, 1)


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r[0]["value"].update(start=5), "value.text"),
    (lambda r: r[0]["value"].update(end=99), "value"),
    (lambda r: r[2].update(labels=["协同", "禁忌"]), "labels"),
    (lambda r: r[2].update(labels=["friend"]), "labels"),
    (lambda r: r[2].update(to_id="zz"), "unknown region"),
    (lambda r: r[2].update(direction="bi"), "direction"),
])
def test_bad_tasks_are_located_and_can_be_skipped(tmp_path, change, field):
    result = _regions() + [{"from_id": "a", "to_id": "b", "type": "relation", "direction": "right",
                            "labels": ["禁忌"]}]
    change(result)
    path = tmp_path / "e.json"
    path.write_text(json.dumps([_one_task(result)], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ImportProblem, match=rf"task #0 \(id 7\): annotations\.result\[\d\].*{field}"):
        import_export(path)
    rejects = tmp_path / "rej.jsonl"
    records, summary = import_export(path, on_error="skip", rejects=rejects)
    assert records == [] and summary.rejected == 1
    assert json.loads(rejects.read_text(encoding="utf-8"))["task_id"] == 7


def test_cli_round_trip(tmp_path):
    with as_file(CHDDI_TEST) as test:
        tasks_path = tmp_path / "tasks.json"
        res = CliRunner().invoke(app, ["annotate", "export-ls", str(test), "--out", str(tasks_path),
                                       "--predictions", "record"])
        assert res.exit_code == 0, res.output
        export = tmp_path / "export.json"
        export.write_text(json.dumps(_as_label_studio_export(json.loads(tasks_path.read_text("utf-8"))),
                                     ensure_ascii=False), encoding="utf-8")
        out = tmp_path / "back.jsonl"
        res = CliRunner().invoke(app, ["annotate", "import-ls", str(export), "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert read_jsonl(out, ChddiRecord) == read_jsonl(test, ChddiRecord)
    write_tasks(tmp_path / "x.json", [])
