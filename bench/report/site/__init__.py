"""`bench site`: the leaderboards as a static website (HTML + vendored Plotly) generated from results/ alone."""

from __future__ import annotations

from pathlib import Path


def build(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Every page of the site from the results store and the reference tables; the same input gives the same bytes."""
    from . import render
    from .pages import Sources, all_pages

    return render.write(all_pages(Sources.read(results_dir)), out_dir)
