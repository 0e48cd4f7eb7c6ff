"""Grafana-managed alert rules, written as a file-provisioning document (apiVersion 1).

Each rule: query A (ClickHouse SQL, table format: string columns become labels, one numeric column the
value) -> B reduce(last) -> C threshold. The SDK builds the rules; the provisioning file format names the
folder by title at the group level and has no folderUID/ruleGroup/orgID on the rules, so those are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import DATASOURCE_UID, FOLDER, ClickHouseQueryBuilder

EXPRESSION_UID = "__expr__"
GROUP = "dvcpulse"
INTERVAL = "1m"


@dataclass(frozen=True)
class AlertConfig:
    """Thresholds chosen at build time (`dvcpulse dashboards build` uses the defaults)."""

    rate_drop_points: float = 10.0
    min_filings_1h: int = sql.DEFAULT_MIN_FILINGS_1H
    min_filings_baseline: int = sql.DEFAULT_MIN_FILINGS_BASELINE
    dead_letters_15m: int = 0
    freshness_seconds: float = 60.0
    on_time_rate: float = sql.DEFAULT_ON_TIME_RATE
    min_judged: int = sql.DEFAULT_MIN_JUDGED


@dataclass(frozen=True)
class RuleSpec:
    uid: str
    title: str
    sql: str
    threshold: float
    pending: str
    summary: str
    description: str
    severity: str = "warning"
    lookback_seconds: int = 3600


def specs(config: AlertConfig, q: sql.Queries) -> list[RuleSpec]:
    return [
        RuleSpec(
            uid="dvcpulse-online-rate-drop",
            title="Tỷ lệ trực tuyến của tỉnh giảm so với nền 7 ngày",
            sql=q.online_rate_drop(config.min_filings_1h, config.min_filings_baseline),
            threshold=config.rate_drop_points,
            pending="10m",
            summary="{{ $labels.province }}: online rate of the last hour is {{ $values.B }} points below its "
            "7-day baseline",
            description=f"The province's online rate over the last hour fell more than {config.rate_drop_points:g} "
            f"percentage points below its rate over the 7 days before (at least {config.min_filings_1h} "
            f"filings in the hour and {config.min_filings_baseline} in the baseline).",
            lookback_seconds=8 * 24 * 3600,
        ),
        RuleSpec(
            uid="dvcpulse-province-silent",
            title="Tỉnh không gửi sự kiện trong 30 phút giờ hành chính",
            sql=q.alert_province_silent,
            threshold=0,
            pending="0s",
            summary="{{ $labels.province }} sent no events for 30 minutes during office hours",
            description="No event of this province arrived in the last 30 minutes while the whole window lay "
            "inside office hours (07:30-17:00 Asia/Ho_Chi_Minh, Monday-Friday); the check is in the SQL.",
            severity="critical",
        ),
        RuleSpec(
            uid="dvcpulse-dead-letters",
            title="Thư chết (dead letter) tăng",
            sql=q.alert_dead_letters,
            threshold=config.dead_letters_15m,
            pending="0s",
            summary="{{ $values.B }} messages went to the dead-letter table in the last 15 minutes",
            description="Producers are sending events the validator rejects; see the pipeline dashboard's "
            "dead-letter list for the reasons.",
        ),
        RuleSpec(
            uid="dvcpulse-freshness",
            title="Dữ liệu không còn tươi (> 60 giây)",
            sql=q.alert_freshness,
            threshold=config.freshness_seconds,
            pending="2m",
            summary="The newest event is {{ $values.B }} s old",
            description=f"The newest event seen by the stream processor is older than "
            f"{config.freshness_seconds:g} s: the pipeline or its sources have stalled.",
            severity="critical",
        ),
        RuleSpec(
            uid="dvcpulse-766-on-time-low",
            title="Tỷ lệ hồ sơ giải quyết đúng hạn (766, chỉ số 2.1) của tỉnh thấp",
            sql=q.on_time_low(config.on_time_rate, config.min_judged),
            threshold=0,
            pending="1h",
            summary="{{ $labels.province }}: on-time rate (766 indicator 2.1) this month is {{ $values.B }} "
            "points below the threshold",
            description=f"The province's share of dossiers handled on time this month (Decision 766 indicator "
            f"2.1, v_766_province) is below {config.on_time_rate:.0%}, with at least {config.min_judged} "
            f"dossiers judged.",
            lookback_seconds=3600,
        ),
    ]


def _expression_ref() -> DataSourceRef:
    return DataSourceRef(type_val=EXPRESSION_UID, uid=EXPRESSION_UID)


def _rule(spec: RuleSpec) -> alerting.Rule:
    threshold = expr.ExprTypeThresholdConditions().evaluator(
        expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([spec.threshold])
    )
    return (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .condition("C")
        .with_query(
            alerting.Query("A")
            .datasource_uid(DATASOURCE_UID)
            .relative_time_range(RelativeTimeRange(from_val=spec.lookback_seconds, to=0))
            .model(ClickHouseQueryBuilder(spec.sql))
        )
        .with_query(
            alerting.Query("B")
            .datasource_uid(EXPRESSION_UID)
            .model(expr.TypeReduce().ref_id("B").expression("A").reducer("last").datasource(_expression_ref()))
        )
        .with_query(
            alerting.Query("C")
            .datasource_uid(EXPRESSION_UID)
            .model(
                expr.TypeThreshold().ref_id("C").expression("B").conditions([threshold]).datasource(_expression_ref())
            )
        )
        .no_data_state("OK")
        .exec_err_state("Error")
        .for_val(spec.pending)
        .is_paused(False)
        .labels({"severity": spec.severity, "team": "dvcpulse"})
        .annotations({"summary": spec.summary, "description": spec.description})
    )


def provisioning(database: str, config: AlertConfig | None = None) -> dict[str, object]:
    """The alerting/rules.yaml document, the rules' SQL reading the tables of `database`."""
    rules = []
    for spec in specs(config or AlertConfig(), sql.Queries(database)):
        rule = json.loads(json.dumps(_rule(spec).build(), cls=JSONEncoder))
        for key in ("folderUID", "ruleGroup", "orgID"):
            rule.pop(key, None)
        rules.append(rule)
    return {
        "apiVersion": 1,
        "groups": [{"orgId": 1, "name": GROUP, "folder": FOLDER, "interval": INTERVAL, "rules": rules}],
    }
