"""benchmarks/chinese_path.py: the rule baseline's record, and CMeIE skipped with its reason without ../shared."""

from __future__ import annotations

from benchmarks import chinese_path
from benchmarks.common import read_json
from ddikg.labels import RELATION_LABELS


def test_baseline_part_records_per_type_figures(tmp_path, capsys):
    assert chinese_path.main(["--part", "baseline", "--out", str(tmp_path)]) == 0
    got = read_json(tmp_path / "baseline.json")
    assert got["command"] == "python -m benchmarks.chinese_path --part baseline"
    assert got["data"]["statements"] == 184 and got["machine"]["load_average"]
    per_type = got["metrics"]["re"]["per_type"]
    assert set(per_type) == set(RELATION_LABELS) and sum(v["support"] for v in per_type.values()) == 300
    assert "相加" in capsys.readouterr().out


def test_cmeie_part_is_skipped_with_the_reason_without_shared(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(chinese_path, "CMEIE", tmp_path / "nowhere")
    assert chinese_path.main(["--part", "cmeie", "--out", str(tmp_path)]) == 0
    got = read_json(tmp_path / "cmeie.json")
    assert "nowhere" in got["skipped"] and "DDIKG_SHARED" in got["skipped"] and "metrics" not in got
    assert "skipped: needs" in capsys.readouterr().out
