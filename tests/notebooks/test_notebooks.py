"""Every notebook in notebooks/ runs top to bottom in a real kernel, and is committed without outputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import ipykernel.kernelspec
import nbformat
import pytest
from nbclient import NotebookClient
from support.databases import postgres_schema, postgres_table_contents

from profilestore import Engine, ProfileStore, Server

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
AUDIT = NOTEBOOK_DIR / "audit.ipynb"
KERNEL = "profilestore-test"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernelspec for this interpreter (the venv's), found through JUPYTER_PATH: nothing installed."""
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    ipykernel.kernelspec.install(kernel_name=KERNEL, prefix=str(prefix))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        patch.setenv("MPLBACKEND", "Agg")
        patch.delenv("PROFILESTORE_AUDIT_DATABASE", raising=False)
        patch.delenv("PROFILESTORE_AUDIT_STORE", raising=False)
        patch.delenv("PROFILESTORE_AUDIT_KEY", raising=False)
        patch.delenv("PROFILESTORE_DATABASE_URL", raising=False)
        yield KERNEL


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    """Run the notebook in `workdir`; a failing cell raises CellExecutionError."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name=KERNEL, timeout=120,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.output_type == "stream")


def test_there_are_notebooks() -> None:
    assert AUDIT in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs; clear them before committing"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_runs(path: Path, kernel: str, tmp_path: Path) -> None:
    notebook = execute(path, tmp_path)
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code")
    assert list(tmp_path.iterdir()) == [], "notebooks keep their databases in a temporary directory"


def make_game_database(url: str) -> None:
    """Two players; player-bbb's coins drop from 80 to 0 in one save, and a later release that adds
    gems migrates its profile (the notebook reads it as stored, without the game's migrations)."""
    with Engine(url, server=Server(place_id="game-7"), background=False) as engine:
        store = ProfileStore("PlayerData", {"coins": 0, "items": []}, engine=engine)
        for key, user_id, coins in (("player-aaa", 1001, [10, 20, 30]), ("player-bbb", 1002, [50, 80, 0, 4])):
            profile = store.start_session(key)
            assert profile is not None
            profile.add_user_id(user_id)
            for amount in coins:
                profile.data["coins"] = amount
                profile.data["items"].append(f"item-{amount}")
                assert profile.save()
            profile.end_session()
        release = ProfileStore("PlayerData", {"coins": 0, "items": [], "gems": 0}, engine=engine,
                               migrations=[lambda data: {**data, "gems": 0}])
        profile = release.start_session("player-bbb")
        assert profile is not None
        profile.end_session()


def test_audit_reads_an_analysts_database_without_writing_to_it(kernel: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """PROFILESTORE_AUDIT_DATABASE: the audit picks the player who lost coins, and works on a snapshot."""
    database = tmp_path / "game.db"
    make_game_database(f"sqlite:///{database}")
    files = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in tmp_path.iterdir()}
    assert list(files) == ["game.db"]

    monkeypatch.setenv("PROFILESTORE_AUDIT_DATABASE", f"sqlite:///{database}")
    workdir = tmp_path / "work"
    workdir.mkdir()
    text = printed(execute(AUDIT, workdir))

    assert "auditing player-bbb" in text
    assert "80 coins (rolled back to version" in text
    assert "Migrated" in text and "schema 0 → 1: add /gems = 0" in text
    # A reader may add an empty -wal/-shm next to it; the files that were there keep their bytes.
    assert {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in files} == files


@pytest.mark.postgres
def test_audit_reads_a_postgresql_database_in_place_without_writing_to_it(
        kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with postgres_schema() as url:
        make_game_database(url)
        before = postgres_table_contents(url)
        monkeypatch.setenv("PROFILESTORE_AUDIT_DATABASE", url)
        text = printed(execute(AUDIT, tmp_path))
        assert postgres_table_contents(url) == before

    assert "auditing player-bbb" in text
    assert "80 coins (rolled back to version" in text
    assert "schema 0 → 1: add /gems = 0" in text
    assert "1002 owns" in text and "('PlayerData', 'player-bbb'" in text
