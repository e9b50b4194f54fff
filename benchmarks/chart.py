"""A PNG of coverage per module: the import-only baseline and each tool side by side (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

COLOURS = {
    "import only": "#bbbbbb",
    "reference": "#777777",
    "testbot": "#1f77b4",
    "pynguin": "#ff7f0e",
    "coverup": "#2ca02c",
}


def coverage_chart(rows: list[dict], series: list[str], path: Path, title: str) -> Path:
    """``rows``: {"id", <series name>: line+branch % or None}; one group of bars per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) * max(1, len(series)) * 0.45 + 2), 4.5))
    for i, name in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(rows))]
        ys = [r.get(name) or 0.0 for r in rows]
        ax.bar(xs, ys, width, label=name, color=COLOURS.get(name))
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["id"] for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("line+branch coverage (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
