"""Every notebook in ``notebooks/`` runs top to bottom on small data (no display)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))
SMALL = {
    "MPI_NOTEBOOK_PERSONS": "250",
    "MPI_NOTEBOOK_FEBRL": "250",
    "MPI_NOTEBOOK_U_PAIRS": "20000",
}


def test_notebooks_are_found() -> None:
    assert {p.name for p in NOTEBOOKS} >= {
        "evaluation.py",
        "explain_pair.py",
        "model_weights.py",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("MPLBACKEND", "Agg")
    for name, value in SMALL.items():
        monkeypatch.setenv(name, value)
    figures = tmp_path / "figures"
    monkeypatch.setenv("MPI_NOTEBOOK_FIGURES", str(figures))
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        plt.close("all")
    assert list(figures.glob("*.png")), "the notebook drew no figure"
    assert capsys.readouterr().out  # it reported something
