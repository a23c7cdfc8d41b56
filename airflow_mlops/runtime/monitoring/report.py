"""The monitoring report: Evidently's HTML of the drift and classification (or regression)
snapshots below a header with the verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def render_html(result: Mapping[str, Any], figures: Mapping[str, Any], snapshots: Sequence[tuple[str, Any]]) -> str:
    """Evidently's HTML of the snapshots below a header with the verdict; without any snapshot
    (too few predictions) a small page of its own."""
    snapshots = [(title, s) for title, s in snapshots if s is not None]
    if not snapshots:
        return _plain_page(result, figures)
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import CounterData, counter, group_widget, header_text

    header = [
        counter(title=f"Monitoring verdict: {result['status'].upper()}", counters=[
            CounterData("predictions in the window", str(result["rows"])),
            CounterData("drifted features", ", ".join(result["drifted_features"]) or "none"),
            *performance_counters(result),
        ]),
        *[header_text(label=reason) for reason in result["reasons"]],
        header_text(label=_window_text(figures)),
    ]
    body = []
    for title, snapshot in snapshots:
        # What Snapshot.get_html_str renders, for several snapshots on one page (Evidently 0.7).
        body.append(group_widget(title=title, widgets=list(snapshot._widgets)))
        body.extend(snapshot._tests_widgets)
    return render_widgets([*header, *body])


def performance_counters(result: Mapping[str, Any]) -> list[Any]:
    """The header's figures of the labelled predictions: accuracy, or a regression's MAE and RMSE."""
    from evidently.legacy.renderers.html_widgets import CounterData

    return [CounterData(title, text) for title, text in performance_texts(result)]


def performance_texts(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(title, text)]`` of the verdict's figures on labelled predictions, per task."""
    if "mae" not in result:  # a classifier's verdict
        return [("accuracy", "-" if result["accuracy"] is None else f"{result['accuracy']:.2%} ({result['labelled']} labelled)")]
    skipped = f", {result['skipped_labels']} labels not numbers" if result.get("skipped_labels") else ""
    return [("mean absolute error", "-" if result["mae"] is None else f"{result['mae']:.4g} ({result['labelled']} labelled{skipped})"),
            ("root mean squared error", "-" if result["rmse"] is None else f"{result['rmse']:.4g}")]


def _window_text(figures: Mapping[str, Any]) -> str:
    text = f"window {figures.get('window_start', '?')} to {figures.get('window_end', '?')}"
    if figures.get("champion_version"):
        text += f"; reference: the training split of champion version {figures['champion_version']} ({figures.get('reference_rows', '?')} rows)"
    if figures.get("sampled"):
        text += f"; drift tested on a random sample of {figures['tested_rows']} of {figures['rows']} rows"
    return text


def _plain_page(result: Mapping[str, Any], figures: Mapping[str, Any]) -> str:
    from airflow_mlops.runtime.ml import reports

    sections = [
        f"<p>Verdict: <span class='warn'>{reports.esc(result['status'])}</span></p>",
        "<ul>" + "".join(f"<li>{reports.esc(r)}</li>" for r in result["reasons"]) + "</ul>",
        "<p>" + "; ".join(f"{reports.esc(title)}: {reports.esc(text)}" for title, text in performance_texts(result)) + "</p>",
        "<h2>Predictions by model version</h2>"
        + reports.table(["version", "predictions"], sorted((figures.get("by_version") or {}).items())),
    ]
    return reports.page("Model monitoring", sections, meta=_window_text(figures))
