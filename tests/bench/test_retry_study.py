"""benchmarks/retry_study.py picks its tasks from a recorded run's newest results CSV."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "retry_study.py"
HEADER = "id,status,attempts,first_attempt_pass\n"


def study() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retry_study", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_newest_results_csv_is_read_not_a_timeline_beside_it(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "python_20260101T000000Z.csv").write_text(HEADER + "HumanEval/1,failed,4,false\n")
    (raw / "python_20260102T000000Z.csv").write_text(
        HEADER + "HumanEval/1,passed,2,false\nHumanEval/2,passed,1,true\nHumanEval/3,error,1,false\n"
    )
    (raw / "python_20260102T000000Z_timeline.csv").write_text("t_s,rss_mib,children_rss_mib,live_children\n")
    assert study().first_attempt_failures(tmp_path) == ["HumanEval/1"]
