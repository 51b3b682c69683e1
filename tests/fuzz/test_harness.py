"""The fuzz harness itself: hangs, memory exhaustion and crashes are caught and counted."""

import pytest

pytest.importorskip("hypothesis")

from tests.fuzz.harness import Worker, classify


@pytest.fixture
def worker(tmp_path):
    w = Worker(memory=1 << 30, timeout=1.0, log=tmp_path / "stderr.txt")
    yield w
    w.close()


def run(worker, tmp_path, text: str) -> tuple[str, dict]:
    path = tmp_path / "case.txt"
    path.write_text(text)
    answer = worker.run("selftest", path)
    return classify("idx", answer, path), answer


def test_clean_case_then_hang_then_recovery(worker, tmp_path):
    assert run(worker, tmp_path, "sleep 0")[0] == "accepted"
    outcome, answer = run(worker, tmp_path, "sleep 60")
    assert outcome == "hang" and "no answer in 1 s" in answer["message"]
    assert worker.process is None  # killed
    assert run(worker, tmp_path, "sleep 0")[0] == "accepted"  # a fresh worker


def test_memory_cap_gives_memory_error(worker, tmp_path):
    outcome, answer = run(worker, tmp_path, f"alloc {2 << 30}")
    assert outcome == "undocumented" and answer["mro"][0] == "MemoryError"
    assert run(worker, tmp_path, f"alloc {1 << 20}")[0] == "accepted"


def test_crash(worker, tmp_path):
    outcome, answer = run(worker, tmp_path, "exit 3")
    assert outcome == "crash" and "status 3" in answer["message"]
    assert run(worker, tmp_path, "sleep 0")[0] == "accepted"


def test_classify_requires_documented_type_and_file_name(tmp_path):
    path = tmp_path / "f.idx"
    raised = {"outcome": "raised", "mro": ["UnicodeDecodeError", "ValueError"]}
    assert classify("idx", {**raised, "message": f"{path}: bad"}, path) == "refused"
    assert classify("idx", {**raised, "message": "bad byte"}, path) == "unnamed"
    assert classify("idx", {"outcome": "raised", "mro": ["KeyError"], "message": "f.idx"},
                    path) == "undocumented"
    assert classify("model", {"outcome": "accepted", "violation": "NaN"}, path) == "bad_accept"
