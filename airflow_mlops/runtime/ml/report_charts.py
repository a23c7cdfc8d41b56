"""Pictures for the HTML reports, each an inline PNG of a fixed size (the report stays one file
that needs no internet).

Drawn with matplotlib's object API (``Figure``, rendered by Agg), never pyplot: no global figure
state, no GUI backend, safe in a worker thread. matplotlib is imported inside the functions: it
is a runtime-plane dependency only.

- :func:`feature_distribution`: a feature of the new data against the champion's baseline, from
  TFDV statistics (numeric: overlaid histograms; categorical: side-by-side bars);
- :func:`confusion_heatmap`, :func:`predicted_vs_actual`, :func:`residual_histogram`: a model's
  errors on the test split;
- :func:`slice_bars`: a metric per slice value, candidate next to champion.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

#: every picture's size in inches and resolution: PNGs of SIZE * DPI pixels
SIZE = (5.0, 3.2)
DPI = 90
SQUARE = (5.0, 4.4)
NEW, BASELINE = "#1f77b4", "#ff7f0e"
MAX_CATEGORIES = 12


def pixels(size: tuple[float, float] = SIZE) -> tuple[int, int]:
    """The PNG's width and height in pixels for a figure of ``size`` inches."""
    return round(size[0] * DPI), round(size[1] * DPI)


def _figure(size: tuple[float, float] = SIZE):
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def png_html(fig, alt: str) -> str:
    """``fig`` as an ``<img>`` with an inline PNG; ``alt`` says what it shows (also its tooltip)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    text = html.escape(alt, quote=True)
    return (f'<img class="chart" alt="{text}" title="{text}" '
            f'src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">')


# -- data validation ------------------------------------------------------------------------------


def _histogram(num_stats):
    """The STANDARD (equal-width) histogram of TFDV numeric statistics: ``(edges, densities)``
    with densities per unit of the feature, so histograms of different ranges and row counts
    overlay; ``None`` without one."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    standard = statistics_pb2.Histogram.HistogramType.STANDARD
    for histogram in num_stats.histograms:
        if histogram.type == standard and histogram.buckets:
            buckets = list(histogram.buckets)
            total = sum(b.sample_count for b in buckets) or 1.0
            edges = [buckets[0].low_value, *(b.high_value for b in buckets)]
            densities = [b.sample_count / total / ((b.high_value - b.low_value) or 1.0) for b in buckets]
            return edges, densities
    return None


def _frequencies(string_stats) -> dict[str, float]:
    """The share of each value among a categorical feature's present values (its top values)."""
    total = string_stats.common_stats.num_non_missing or 1
    return {v.value: v.frequency / total for v in string_stats.top_values}


def feature_distribution(name: str, new, baseline, title: str) -> str:
    """One feature's distribution in the new data (``new``, TFDV ``FeatureNameStatistics``)
    against the baseline's (the same feature in the champion's training statistics, or ``None``),
    titled ``title``."""
    fig = _figure()
    ax = fig.add_subplot()
    if new.HasField("num_stats"):
        for stats, label, color in ((baseline, "champion's training data", BASELINE), (new, "new data", NEW)):
            drawn = _histogram(stats.num_stats) if stats is not None and stats.HasField("num_stats") else None
            if drawn:
                ax.stairs(drawn[1], drawn[0], fill=True, alpha=0.35, color=color, label=label)
                ax.stairs(drawn[1], drawn[0], color=color, linewidth=1.2)
        ax.set_ylabel("density")
    else:
        import numpy as np

        ours = _frequencies(new.string_stats)
        theirs = _frequencies(baseline.string_stats) if baseline is not None and baseline.HasField("string_stats") else {}
        values = sorted(set(ours) | set(theirs), key=lambda v: -(ours.get(v, 0) + theirs.get(v, 0)))[:MAX_CATEGORIES]
        x = np.arange(len(values))
        width = 0.4 if theirs else 0.8
        if theirs:
            ax.bar(x - width / 2, [theirs.get(v, 0) for v in values], width, color=BASELINE, label="champion's training data")
        ax.bar(x + (width / 2 if theirs else 0), [ours.get(v, 0) for v in values], width, color=NEW, label="new data")
        ax.set_xticks(x, [str(v)[:14] for v in values], rotation=30 if len(values) > 4 else 0, ha="right" if len(values) > 4 else "center")
        ax.set_ylabel("share of rows")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(name)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return png_html(fig, title)


# -- model evaluation -----------------------------------------------------------------------------


def confusion_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """The confusion matrix as a heatmap (rows: true class, columns: predicted), counts written
    in the cells; titled with the classes."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    fig = _figure(SQUARE)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, [str(v) for v in labels], rotation=30 if len(labels) > 3 else 0)
    ax.set_yticks(ticks, [str(v) for v in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = counts.max() if counts.size else 0
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=8, color="white" if count > high / 2 else "#1f2933")
    title = f"Confusion matrix: {', '.join(map(str, labels))}"
    ax.set_title(title, fontsize=9)
    return png_html(fig, title)


def _finite_pairs(actual: Sequence[float], predicted: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(a, p) for a, p in zip(actual, predicted) if a == a and p == p and abs(p) != float("inf")]
    return [a for a, _ in pairs], [p for _, p in pairs]


def predicted_vs_actual(actual: Sequence[float], predicted: Sequence[float]) -> str:
    """Predictions against true values with the diagonal (non-finite predictions left out)."""
    xs, ys = _finite_pairs(actual, predicted)
    fig = _figure(SQUARE)
    ax = fig.add_subplot()
    ax.scatter(xs, ys, s=10, alpha=0.6, color=NEW)
    if xs:
        low, high = min(xs + ys), max(xs + ys)
        ax.plot([low, high], [low, high], color="#b42318", linewidth=1, label="prediction = true value")
        ax.legend(fontsize=7)
    ax.set_xlabel("true value")
    ax.set_ylabel("prediction")
    ax.grid(alpha=0.3)
    title = f"Predicted against true values ({len(xs)} rows)"
    ax.set_title(title, fontsize=9)
    return png_html(fig, title)


def residual_histogram(actual: Sequence[float], predicted: Sequence[float]) -> str:
    """The residuals (prediction minus true value) as a histogram, with their mean."""
    xs, ys = _finite_pairs(actual, predicted)
    residuals = [p - a for a, p in zip(xs, ys)]
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(residuals, bins=30, color=NEW, alpha=0.8)
    ax.axvline(0, color="#1f2933", linewidth=1)
    mean = sum(residuals) / len(residuals) if residuals else 0.0
    ax.set_xlabel("prediction - true value")
    ax.set_ylabel("rows")
    ax.grid(alpha=0.3, axis="y")
    title = f"Residuals ({len(residuals)} rows, mean {mean:+.4g})"
    ax.set_title(title, fontsize=9)
    return png_html(fig, title)


def slice_bars(feature: str, metric: str, candidate: dict[str, dict[str, Any]], champion: dict[str, dict[str, Any]] | None,
               champion_name: str = "champion") -> str:
    """``metric`` per value of ``feature``, the candidate's bars next to the champion's (when
    there is one), each value's row count under it."""
    import numpy as np

    values = list(candidate)
    x = np.arange(len(values))
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.4 if champion else 0.7
    ax.bar(x - (width / 2 if champion else 0), [candidate[v].get(metric, np.nan) for v in values], width, color=NEW, label="candidate")
    if champion:
        ax.bar(x + width / 2, [champion.get(v, {}).get(metric, np.nan) for v in values], width, color=BASELINE, label=champion_name)
        ax.legend(fontsize=7)
    ax.set_xticks(x, [f"{str(v)[:14]}\n{candidate[v]['count']} rows" for v in values], fontsize=8)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    title = f"{metric} by {feature}" + (f": candidate vs {champion_name}" if champion else "")
    ax.set_title(title, fontsize=9)
    return png_html(fig, title)
