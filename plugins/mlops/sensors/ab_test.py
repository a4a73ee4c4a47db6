"""The periodic look at a running A/B test, in reschedule mode: no worker slot is held in between.

Each poke reads the variants' impressions and conversions since the test started and the
challenger's guardrail alarms (in ALARM now, or gone to ALARM since the previous look by their
history: a breach that cleared in between counts), applies the decision rules of `include.abtest.decision` with the
state kept in the test's ledger record (looks, running always-valid p-value), stores the look,
and finishes with the decision (promote, rollback, inconclusive) and its figures as XCom. The
ledger hook is the sensor's `hook`; the metrics hook is built with the same connection, region,
SSL and botocore settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

from mlops.hooks.ab_tests import CONVERSIONS, IMPRESSIONS, AbMetricsHook, AbTestLedgerHook

MAX_TEST_DAYS = 30


class AbTestSensor(AwsBaseSensor[AbTestLedgerHook]):
    """
    :param endpoint_name: the endpoint serving both variants
    :param test_id: the ledger key of the test (one per champion/challenger pair)
    :param table_name: the A/B ledger table (serving stack output AbTestTableName)
    :param conversion_namespace: where the application puts Impressions/Conversions per variant
    :param challenger_alarms: guardrail alarm names whose ALARM state rolls the test back
    :param settings: `decision.Settings` fields (alpha, min_detectable_lift, traffic_share,
        min_sessions, min_duration_s, max_duration_s)
    :param check_interval_s: seconds between looks (the sensor's poke interval)
    """

    aws_hook_class = AbTestLedgerHook
    template_fields: Sequence[str] = aws_template_fields(
        "endpoint_name",
        "test_id",
        "table_name",
        "conversion_namespace",
        "challenger_alarms",
        "settings",
        "check_interval_s",
    )
    ui_color = "#f5e6b8"

    def __init__(
        self,
        *,
        endpoint_name: str,
        test_id: str,
        table_name: str,
        conversion_namespace: str,
        challenger_alarms: list[str] | str,
        settings: dict[str, Any],
        check_interval_s: float | str = 900,
        champion_variant: str = "champion",
        challenger_variant: str = "challenger",
        **kwargs,
    ) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("timeout", MAX_TEST_DAYS * 86400 + 86400)  # recomputed from the run's settings
        super().__init__(**kwargs)
        self.endpoint_name = endpoint_name
        self.test_id = test_id
        self.table_name = table_name
        self.conversion_namespace = conversion_namespace
        self.challenger_alarms = challenger_alarms
        self.settings = settings
        self.check_interval_s = check_interval_s
        self.champion_variant = champion_variant
        self.challenger_variant = challenger_variant

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "table_name": self.table_name}

    @cached_property
    def metrics_hook(self) -> AbMetricsHook:
        return AbMetricsHook(**super()._hook_parameters)

    def execute(self, context) -> Any:
        # The look interval and the hard stop come from the run's Params, rendered by now.
        self.poke_interval = float(self.check_interval_s)
        max_duration = float(self.settings.get("max_duration_s", 14 * 86400))
        self.timeout = max_duration + 6 * self.poke_interval + 3600  # the rules stop first; this is a backstop
        return super().execute(context)

    def poke(self, context) -> PokeReturnValue:
        from include.abtest import chart, decision  # numpy: not at DAG parse time
        from include.abtest.msprt import Arm

        ledger = self.hook
        stored = ledger.get(self.endpoint_name, self.test_id)
        if stored is None:
            raise LookupError(f"no A/B test {self.test_id!r} for {self.endpoint_name} in table {self.table_name}")
        record = stored["record"]
        if stored["status"] not in ("running", "aborted"):  # aborted: a failed run's teardown; resumed
            self.log.info("test %s was already decided: %s", self.test_id, stored["status"])
            return PokeReturnValue(is_done=True, xcom_value=record.get("figures", {"outcome": stored["status"]}))

        started = datetime.fromisoformat(record["started_at"])
        elapsed = (datetime.now(UTC) - started).total_seconds()
        metrics = self.metrics_hook
        sums = metrics.variant_sums(
            self.conversion_namespace,
            self.endpoint_name,
            [self.champion_variant, self.challenger_variant],
            (IMPRESSIONS, CONVERSIONS),
            started - timedelta(seconds=1),
        )
        counts = {}
        for variant in (self.champion_variant, self.challenger_variant):
            impressions, conversions = int(sums[variant][IMPRESSIONS]), int(sums[variant][CONVERSIONS])
            if conversions > impressions:
                # Not clamped: the application records an impression before any conversion of its
                # session, so more conversions than impressions is broken (or forged) instrumentation,
                # and deciding on it would promote or reject on bad data. No retry: the run fails and
                # its teardown gives the champion all traffic back.
                raise AirflowFailException(
                    f"variant {variant!r} of {self.endpoint_name} has {conversions} Conversions but only "
                    f"{impressions} Impressions in {self.conversion_namespace} since {started.isoformat()}: "
                    "the conversion metrics are broken; the test stops"
                )
            counts[variant] = Arm(impressions, conversions)
        champion, challenger = counts[self.champion_variant], counts[self.challenger_variant]
        alarm_names = self.challenger_alarms
        if isinstance(alarm_names, str):
            alarm_names = [a for a in alarm_names.split(",") if a]
        # from the test's start, then overlapping the previous look's window by a minute (clock skew):
        # a breach between two looks is never missed
        look_at = datetime.now(UTC)
        last = record.get("last_look_at")
        since = datetime.fromisoformat(last) - timedelta(minutes=1) if last else started
        alarms = metrics.alarms_firing(list(alarm_names)) + metrics.alarms_breached_since(list(alarm_names), since)
        result = decision.look(
            champion,
            challenger,
            elapsed,
            decision.Settings(**self.settings),
            decision.State.from_dict(record.get("state")),
            alarms,
        )
        figures = {**result.figures(champion, challenger), "elapsed_s": round(elapsed, 1)}
        self.log.info(
            "look %d: champion %d/%d, challenger %d/%d, p=%.4g -> %s (%s)",
            result.state.looks,
            champion.conversions,
            champion.sessions,
            challenger.conversions,
            challenger.sessions,
            figures["p_value"],
            result.outcome,
            result.reason,
        )
        changes = {
            "state": {"looks": result.state.looks, "p_value": result.state.p_value},
            "figures": figures,
            "last_look_at": look_at.isoformat(),
            # every look, compactly (~60 bytes: 1,344 looks of 14 days at 15 min stay far below
            # DynamoDB's 400 KB item): what conclude charts
            "history": [*record.get("history", []), chart.row(figures)],
        }
        done = result.outcome != decision.CONTINUE
        ledger.update(self.endpoint_name, self.test_id, result.outcome if done else "running", changes)
        return PokeReturnValue(is_done=done, xcom_value=figures)
