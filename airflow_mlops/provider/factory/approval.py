"""The approval gate of ``<pipeline>_promotion`` with ``deployment.approval: promote``:
``canary_analysis`` -> ``approve`` -> ``promote`` -> ``reject`` (see
:mod:`airflow_mlops.provider.operators.approval`).

The approval's subject and body are Jinja templates over the canary analysis' result (XCom), so
the person sees the figures the analysis judged: requests, error rate, p95 latency and accuracy
(a regression: MAE) on labelled predictions, champion against challenger, and the checks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param

from airflow_mlops.contract.config import PipelineConfig

ANALYSIS_TASK = "canary_analysis"
APPROVAL_TASK = "approve"

_METRICS = "{%- set m = (ti.xcom_pull(task_ids='" + ANALYSIS_TASK + "') or {}).get('metrics') or {} -%}"

SUBJECT = _METRICS + "Promote {{ model }} version {{ m.get('challenger') }} to champion (now version {{ m.get('champion') }})?"

BODY = _METRICS + """
{%- set f = m.get('figures') or {} -%}
{%- set champion = f.get('champion') or {} -%}
{%- set challenger = f.get('challenger') or {} -%}
{%- macro share(v) -%}{{ '-' if v is none else '%.2f %%'|format(v * 100) }}{%- endmacro -%}
{%- macro ms(v) -%}{{ '-' if v is none else '%.1f ms'|format(v) }}{%- endmacro -%}
{%- macro number(v) -%}{{ '-' if v is none else '%.4g'|format(v) }}{%- endmacro -%}
{%- macro requests(x) -%}{{ x.get('predictions', 0) + x.get('errors', 0) }}{%- endmacro -%}
The canary of version {{ m.get('challenger') }} passed its analysis against champion version {{ m.get('champion') }}
({{ m.get('window', '') }}).

| | champion v{{ m.get('champion') }} | challenger v{{ m.get('challenger') }} |
|---|---|---|
| requests | {{ requests(champion) }} | {{ requests(challenger) }} |
| error rate | {{ share(champion.get('error_rate')) }} | {{ share(challenger.get('error_rate')) }} |
| p95 latency | {{ ms(champion.get('latency_p95_ms')) }} | {{ ms(challenger.get('latency_p95_ms')) }} |
{% if 'mae' in challenger -%}
| MAE on labelled rows | {{ number(champion.get('mae')) }} ({{ champion.get('labelled', 0) }} rows) | {{ number(challenger.get('mae')) }} ({{ challenger.get('labelled', 0) }} rows) |
{%- else -%}
| accuracy on labelled rows | {{ share(champion.get('accuracy')) }} ({{ champion.get('labelled', 0) }} rows) | {{ share(challenger.get('accuracy')) }} ({{ challenger.get('labelled', 0) }} rows) |
{%- endif %}

Checks:
{% for c in m.get('checks') or [] %}
- {{ c.get('check') }}: {{ c.get('reason') }}
{%- endfor %}

**Approve** makes version {{ m.get('challenger') }} the champion. **Reject** ends the canary: version
{{ m.get('champion') }} stays champion. No answer within {{ timeout_hours }} h counts as Reject.
"""


def approval_arguments(config: PipelineConfig) -> dict[str, Any]:
    """The approval task's arguments: its templates (with the model's name and the timeout filled
    in), the comment field, the timeout and its default answer (Reject: the champion stays)."""
    deployment = config.deployment
    hours = f"{deployment.approval_timeout_hours:g}"
    fill = {"{{ model }}": config.model_name, "{{ timeout_hours }}": hours}

    def filled(template: str) -> str:
        for placeholder, value in fill.items():
            template = template.replace(placeholder, value)
        return template

    return dict(
        task_id=APPROVAL_TASK,
        analysis_task_id=ANALYSIS_TASK,
        subject=filled(SUBJECT),
        body=filled(BODY),
        defaults="Reject",
        response_timeout=timedelta(hours=deployment.approval_timeout_hours),
        params={"comment": Param("", type="string", title="Comment",
                                 description="why: recorded with the decision in the deployment history")},
        retries=0,  # a retry would ask again, under a new request
    )
