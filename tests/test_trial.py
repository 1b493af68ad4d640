"""The trial subset takes its chunks across the input files in turn, reads only the files it
chooses, and with one file is that file's first chunks (so older trial folders still resume)."""

from __future__ import annotations

from pathlib import Path

from augmentoolkit.control_flow_functions.chunking import chunk_documents, read_documents
from augmentoolkit.control_flow_functions.trial import spread, trial_chunks


def write_books(folder: Path, names: list[str], sentences: int = 12) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        text = " ".join(f"Sentence {n} of {name} says something useful." for n in range(sentences))
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")


def test_chunks_come_from_every_file_in_turn(tmp_path: Path) -> None:
    write_books(tmp_path, ["alpha", "beta", "gamma"])
    chunks = trial_chunks(tmp_path, 5, 50, warn=lambda line: None)
    assert [(c.source.filename, c.index) for c in chunks] == [
        ("alpha.txt", 0),
        ("beta.txt", 0),
        ("gamma.txt", 0),
        ("alpha.txt", 1),
        ("beta.txt", 1),
    ]


def test_one_file_gives_its_first_chunks_as_before(tmp_path: Path) -> None:
    write_books(tmp_path, ["only"])
    everything = chunk_documents(read_documents(tmp_path, lambda line: None), 50)
    assert trial_chunks(tmp_path, 4, 50, warn=lambda line: None) == everything[:4]


def test_more_files_than_chunks_reads_files_spread_over_the_folder(tmp_path: Path) -> None:
    write_books(tmp_path, [f"book{n:02d}" for n in range(10)], sentences=2)
    (tmp_path / "book01.txt").write_bytes(b"\x00\x01binary")  # never chosen, so never warned of
    warnings: list[str] = []
    chunks = trial_chunks(tmp_path, 3, 400, warnings.append)
    assert [c.source.filename for c in chunks] == ["book00.txt", "book03.txt", "book06.txt"]
    assert warnings == []
    assert [p.name for p in spread([Path(f"{n}") for n in range(6)], 3)] == ["0", "2", "4"]
