"""HTML pages of the MLOps view, rendered from :mod:`.overview`'s JSON (every value escaped).

The pages are plain HTML with inline CSS and inline SVG: they load nothing else, so they work in
Airflow's iframe and without internet.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from airflow_mlops.provider.plugin import charts

STYLE = """
body{font-family:system-ui,sans-serif;font-size:14px;margin:16px;color:#1a202c}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #e2e8f0;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f7fafc}.tag{display:inline-block;border-radius:8px;padding:0 6px;margin:1px;font-size:12px;background:#e2e8f0}
.champion{background:#c6f6d5}.challenger{background:#feebc8}.previous{background:#e9d8fd}.held,.alert,.reject,.rollback{background:#fed7d7}
.ok,.promote,.bootstrap{background:#c6f6d5}.canary,.hold{background:#feebc8}.muted{color:#718096}.pictures svg{margin:4px 16px 4px 0}
.figures{font-size:12px;color:#4a5568}code{font-size:12px}pre.error{font-size:12px;color:#9b2c2c;white-space:pre-wrap;margin:4px 0}
"""


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def tag(text: str, css: str | None = None) -> str:
    return f'<span class="tag {escape(css or text)}">{escape(text)}</span>'


def report_link(base: str, pipeline: str, path: str, text: str) -> str:
    return f'<a href="{escape(base)}/reports/{quote(pipeline)}/{quote(path)}">{escape(text)}</a>'


def short_uri(uri: str | None) -> str:
    """The last three segments of a URI, with the whole URI on hover."""
    if not uri:
        return '<span class="muted">-</span>'
    return f'<code title="{escape(uri)}">…/{escape("/".join(uri.rstrip("/").split("/")[-3:]))}</code>'


def figures(data: Any) -> str:
    """Nested decision figures as ``key: value`` lines (nested dicts indented)."""
    if isinstance(data, dict):
        if not data:
            return ""
        items = "".join(f"<li><b>{escape(str(k))}</b>: {figures(v)}</li>" for k, v in data.items())
        return f'<ul class="figures">{items}</ul>'
    if isinstance(data, float):
        return escape(f"{data:.4g}")
    if isinstance(data, list):
        return escape(", ".join(str(x) for x in data))
    return escape(str(data))


def _canary_cell(canary: dict[str, Any] | None) -> str:
    return escape(f"v{canary['version']} at {float(canary['weight']):.0%}") if canary else "-"


def root_cell(o: dict[str, Any]) -> str:
    """The artifact root a pipeline is read from, what chose it, and its YAML's error if any."""
    cell = f"<code>{escape(o['artifact_root'])}</code> {tag(o['root_source'], 'muted')}"
    if o.get("config_error"):
        cell += f'<br>{tag("config error", "alert")}<pre class="error">{escape(o["config_error"])}</pre>'
    return cell


def index_page(base: str, summaries: list[dict[str, Any]], where: dict[str, Any]) -> str:
    """The pipelines; ``where``: the machine root (``artifact_root``, ``root_source``) and the
    ``include_dirs`` searched for pipeline YAMLs."""
    rows = []
    for s in summaries:
        canary = s["canary"]
        verdict = s["last_verdict"]
        decision = s["last_decision"]
        rows.append(
            f'<tr><td><a href="{escape(base)}/pipelines/{quote(s["pipeline"])}">{escape(s["pipeline"])}</a></td>'
            f"<td>{escape(str(s['champion'] or '-'))}</td>"
            f"<td>{_canary_cell(canary)}</td>"
            f"<td>{tag(decision['action']) + ' v' + escape(str(decision['version'])) if decision else '-'}</td>"
            f"<td>{tag(verdict['status'] or '?') + ' ' + escape(str(verdict['at'])) if verdict else '-'}</td>"
            f"<td>{root_cell(s)}</td></tr>"
        )
    machine = f"<code>{escape(where['artifact_root'])}</code> ({escape(where['root_source'])})"
    includes = ", ".join(f"<code>{escape(d)}</code>" for d in where["include_dirs"]) or "no directory"
    table = ("<table><tr><th>pipeline</th><th>champion</th><th>canary</th><th>last decision</th><th>last verdict</th>"
             "<th>read from</th></tr>" + "".join(rows) + "</table>"
             ) if rows else f'<p class="muted">No pipeline YAML found and nothing written under {machine} yet.</p>'
    return page("MLOps", f"<h1>MLOps</h1><p class=\"muted\">Each pipeline is read from the artifact root its DAGs write to: "
                f"its YAML's (found in {includes}) unless the machine sets one; pipelines without a YAML from {machine}.</p>"
                f"{table}")


def _pictures(o: dict[str, Any]) -> str:
    metric = o["headline_metric"]
    aliases = {v: a for a, v in o["aliases"].items()}
    versions = list(reversed(o["versions"]))
    bars = [(f"v{v['version']}", float(v["metrics"][metric])) for v in versions if metric and metric in v["metrics"]]
    metric_chart = charts.bar_chart(f"{metric or 'metric'} per version (test split)", bars,
                                    {f"v{v}": a for v, a in aliases.items()})
    columns: list[tuple[str, dict[str, float]]] = []
    for m in o["monitoring"]:
        counts = {str(k): float(v) for k, v in (m["by_version"] or {}).items() if charts.finite(v) is not None}
        columns.append((str(m["window_end"] or m["at"] or "")[5:16].replace("T", " "), counts))
    canary = o["canary"]
    if o["champion"] is not None:
        share = float(canary["weight"]) if canary else 0.0
        now = {str(o["champion"]): 1.0 - share}
        if canary:
            now[str(canary["version"])] = share
        columns.append(("now (configured)", now))
    traffic = charts.share_bars("traffic share per version", columns)
    windows = [m for m in o["monitoring"] if m["features"]]
    labels = [str(m["window_end"] or m["at"] or "")[5:16].replace("T", " ") for m in windows]
    features = sorted({f for m in windows for f in m["features"]})
    cells = {}
    for label, m in zip(labels, windows, strict=True):
        for feature, info in m["features"].items():
            cells[(feature, label)] = (bool(info.get("detected")), charts.finite(info.get("score")))
    drift = charts.drift_heatmap("drift per feature over time (score of the drift test; red: drifted)", features, labels, cells)
    return f'<div class="pictures">{metric_chart}{traffic}</div><div class="pictures">{drift}</div>'


def _versions(base: str, o: dict[str, Any]) -> str:
    rows = []
    for v in o["versions"]:
        aliases = "".join(tag(a) for a in v["aliases"]) + (tag("held") if v["held"] else "")
        blessing = v["blessing"]
        blessed = tag("blessed", "ok") if blessing["blessed"] else tag("not blessed", "alert")
        reasons = "<br>".join(escape(r) for r in blessing["reasons"])
        metrics = "<br>".join(f"{escape(k)} {escape(f'{m:.4g}')}" for k, m in v["metrics"].items())
        lin = v["lineage"]
        run = lin["dag_run"]
        lineage = (f"data {short_uri(lin['examples'])} ({escape(str(lin['rows']))} rows)<br>statistics {short_uri(lin['statistics'])}"
                   f"<br>schema {short_uri(lin['schema'])}<br>transform {short_uri(lin['transform'])}<br>model {short_uri(lin['model'])}"
                   f"<br>DAG run <code>{escape(str(run['dag_id']))} / {escape(str(run['run_id']))}</code>"
                   + (f"<br>MLflow run <code>{escape(str(lin['mlflow_run_id']))}</code>" if lin["mlflow_run_id"] else ""))
        reports = " ".join(report_link(base, o["pipeline"], path, kind) for kind, path in v["reports"].items())
        held = f'<br><span class="muted">held: {escape(v["held"])}</span>' if v["held"] else ""
        rows.append(f"<tr id=\"v{escape(v['version'])}\"><td><b>v{escape(v['version'])}</b><br>{aliases}</td><td>{escape(v['registered_at'])}</td>"
                    f"<td>{blessed}<br>{reasons}{held}</td><td>{metrics}</td><td>{lineage}</td><td>{reports}</td></tr>")
    if not rows:
        return '<p class="muted">No registered version yet.</p>'
    return ("<table><tr><th>version</th><th>registered</th><th>blessing</th><th>metrics</th><th>lineage</th><th>reports</th></tr>"
            + "".join(rows) + "</table>")


def _history(o: dict[str, Any]) -> str:
    rows = [f"<tr><td>{escape(str(d.get('at')))}</td><td>{tag(str(d.get('action')))}</td><td>v{escape(str(d.get('version')))}</td>"
            f"<td>{escape(str(d.get('previous_champion') or '-'))}</td><td>{escape(str(d.get('reason') or ''))}"
            f"{figures(d.get('figures') or {})}</td><td><code>{escape(str(d.get('by') or ''))}</code></td></tr>"
            for d in o["history"]]
    if not rows:
        return '<p class="muted">Nothing deployed yet.</p>'
    return ("<table><tr><th>at</th><th>decision</th><th>version</th><th>champion before</th><th>reason and figures</th><th>by</th></tr>"
            + "".join(rows) + "</table>")


def _monitoring(base: str, o: dict[str, Any]) -> str:
    rows = []
    for m in reversed(o["monitoring"]):
        quality = " ".join(f"{k} {m[k]:.3g}" for k in ("accuracy", "mae") if charts.finite(m.get(k)) is not None)
        report = report_link(base, o["pipeline"], m["report"], "report") if m["report"] else ""
        rows.append(f"<tr><td>{escape(str(m['window_start']))}<br>{escape(str(m['window_end']))}</td><td>{tag(str(m['status']))}</td>"
                    f"<td>{escape(str(m['rows']))} ({escape(str(m['labelled']))} labelled)</td><td>{escape(quality)}</td>"
                    f"<td>{escape(', '.join(m['drifted_features']) or '-')}</td>"
                    f"<td>{'<br>'.join(escape(r) for r in m['reasons'])}</td><td>{report}</td></tr>")
    if not rows:
        return '<p class="muted">No monitoring verdict yet.</p>'
    return ("<table><tr><th>window</th><th>verdict</th><th>predictions</th><th>quality</th><th>drifted</th><th>reasons</th><th></th></tr>"
            + "".join(rows) + "</table>")


def _reports(base: str, o: dict[str, Any]) -> str:
    rows = [f"<tr><td>{escape(r['at'])}</td><td>{escape(r['kind'])}</td><td>{report_link(base, o['pipeline'], r['path'], r['name'])}</td>"
            f"<td><code>{escape(str(r['dag_run']['dag_id']))} / {escape(str(r['dag_run']['run_id']))}</code></td></tr>"
            for r in o["reports"]]
    if not rows:
        return '<p class="muted">No report yet.</p>'
    return "<table><tr><th>at</th><th>kind</th><th>report</th><th>DAG run</th></tr>" + "".join(rows) + "</table>"


def pipeline_page(base: str, o: dict[str, Any]) -> str:
    """The page of one pipeline: what serves, pictures, versions, decisions, verdicts, reports."""
    aliases = " ".join(f"{tag(a)} v{escape(v)}" for a, v in o["aliases"].items()) or '<span class="muted">no model serves yet</span>'
    canary = o["canary"]
    canary_text = (f"Canary: v{escape(str(canary['version']))} answers {canary['weight']:.0%} of the requests since "
                   f"{escape(str(canary['started_at']))} (window {escape(str(canary['window_minutes']))} min)"
                   if canary else "No canary running.")
    body = (f'<p><a href="{escape(base)}/">MLOps</a> / {escape(o["pipeline"])}</p>'
            f"<h1>{escape(o['pipeline'])}</h1><p>{aliases}</p><p>{canary_text}</p>"
            f'<div class="muted">Read from: {root_cell(o)}</div>'
            f"{_pictures(o)}"
            f"<h2>Model versions</h2>{_versions(base, o)}"
            f"<h2>Deployment history</h2>{_history(o)}"
            f"<h2>Monitoring verdicts</h2>{_monitoring(base, o)}"
            f"<h2>Reports</h2>{_reports(base, o)}")
    return page(f"MLOps - {o['pipeline']}", body)


def not_a_pipeline_page(base: str, dag_id: str) -> str:
    return page("MLOps", f'<p><a href="{escape(base)}/">MLOps</a></p><p class="muted">DAG {escape(dag_id)} '
                "belongs to no MLOps pipeline: no pipeline YAML of that name, nothing under the machine's artifact root.</p>")
