"""Alerts: one open alert per monitor until it clears, sample events, webhooks over real HTTP.

Webhook targets are real HTTP servers started in the test (``http.server`` in a thread) that
record what they receive and answer as scripted (200, 500, 400, or too slowly).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flywheel.ingest.service import IngestService
from flywheel.jobs.runner import run_job
from flywheel.monitor.alerts import check
from flywheel.monitor.config import MonitorConfig, Webhook, config_json
from flywheel.monitor.ingest_hook import install
from flywheel.monitor.reference import reference_from_window
from flywheel.monitor.webhooks import deliver, json_payload, redact, slack_payload
from flywheel.settings import Settings
from flywheel.store import Store, open_store
from flywheel.store.tables_monitor import alert_deliveries, alerts, monitor_configs
from tests.monitor import seed

DAY = timedelta(days=1)
HEALTHY_END = seed.START + 2 * DAY
DRIFTED_END = seed.START + 4 * DAY


class Hook:
    """A local webhook target: records each POST, answers with the next scripted status."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.received.append(
                    {"path": self.path, "body": json.loads(body), "type": self.headers["content-type"]}
                )
                if hook.delay_s:
                    time.sleep(hook.delay_s)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[list[Hook]]:
    made: list[Hook] = []
    yield made
    for h in made:
        h.close()


def _hook(hooks: list[Hook], **kw: Any) -> Hook:
    h = Hook(**kw)
    hooks.append(h)
    return h


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Four days of traffic (drift on the fourth), labels, and day one as the reference."""
    store = open_store(Settings(data_dir=tmp_path_factory.mktemp("alerts") / "data", auth=False))
    svc = IngestService(store)
    install(svc)
    svc.register_model(seed.SPEC)
    events, truth = seed.events(96, 10, drift_at=72)
    seed.ingest(svc, events)
    seed.ingest_labels(svc, seed.labels(truth, 1.0))
    reference_from_window(store, "churn", seed.START, seed.START + DAY)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def churn(seeded: Store) -> Store:
    """The seeded store with no alerts, deliveries or configuration yet."""

    def wipe(conn: Any) -> None:
        for table in (alerts, alert_deliveries, monitor_configs):
            conn.execute(table.delete())

    seeded.db.write(wipe)
    return seeded


def test_the_store_keeps_one_open_alert_per_monitor(store: Store) -> None:
    doc = {
        "monitor": "quality:not_null:in.age",
        "severity": "warning",
        "window_start": seed.START,
        "window_end": seed.START + DAY,
        "value": 3,
        "threshold": 1,
        "message": "m",
        "sample_event_ids": ["a", "b"],
    }
    opened, _ = store.monitor.apply_alerts("churn", to_open=[doc, doc], to_close=[], seen=[])
    assert len(opened) == 1 and opened[0].sample_event_ids == ["a", "b"]
    again, _ = store.monitor.apply_alerts("churn", to_open=[doc], to_close=[], seen=[opened[0].alert_id])
    assert again == [] and len(store.monitor.open_alerts("churn")) == 1
    _, closed = store.monitor.apply_alerts("churn", to_open=[], to_close=[opened[0].alert_id], seen=[])
    assert closed[0].closed_at is not None and store.monitor.open_alerts("churn") == []
    reopened, _ = store.monitor.apply_alerts("churn", to_open=[doc], to_close=[], seen=[])
    assert len(reopened) == 1 and reopened[0].alert_id != opened[0].alert_id
    assert len(store.monitor.alerts("churn")) == 2
    other, _ = store.monitor.apply_alerts("other", to_open=[doc], to_close=[], seen=[])
    assert len(other) == 1  # one open alert per model and monitor


def _configure(store: Store, **kw: Any) -> MonitorConfig:
    cfg = MonitorConfig.model_validate(kw)
    store.monitor.put_config("churn", config_json(cfg))
    return cfg


def test_check_opens_one_alert_per_monitor_and_closes_it_when_it_clears(churn: Store) -> None:
    first = check(churn, "churn", until=DRIFTED_END)
    monitors = {a.monitor for a in first.opened}
    assert {
        "performance:accuracy",
        "output_drift:prediction",
        "quality:allowed_categories:in.plan",
    } <= monitors
    assert len(monitors) == len(first.opened)
    assert {a.alert_id for a in first.open} == {a.alert_id for a in first.opened}
    # The same window again: nothing new, nothing closed, last_seen moves on.
    again = check(churn, "churn", until=DRIFTED_END)
    assert again.opened == [] and again.closed == []
    assert {a.alert_id for a in again.open} == {a.alert_id for a in first.opened}
    assert all(
        a.last_seen_at >= b.last_seen_at
        for a, b in zip(
            sorted(again.open, key=lambda a: a.alert_id),
            sorted(first.opened, key=lambda a: a.alert_id),
            strict=True,
        )
    )
    # A healthy window: every monitor checked there and quiet closes its alert.
    healed = check(churn, "churn", until=HEALTHY_END)
    closed = {a.monitor for a in healed.closed}
    assert "output_drift:prediction" in closed and "quality:allowed_categories:in.plan" in closed
    assert all(a.closed_at is not None for a in healed.closed)
    assert {a.monitor for a in healed.open} == monitors - closed
    history = churn.monitor.alerts("churn")
    assert len(history) == len(first.opened)  # no second alert was ever opened


def test_alerts_carry_the_events_behind_them(churn: Store) -> None:
    res = check(churn, "churn", until=DRIFTED_END)
    by = {a.monitor: a for a in res.opened}
    gold = by["quality:allowed_categories:in.plan"]
    assert 0 < len(gold.sample_event_ids) <= 10
    got = churn.events.get("churn", gold.sample_event_ids).to_pylist()
    assert {e["in.plan"] for e in got} == {"gold"}
    assert all(DRIFTED_END - DAY <= e["timestamp"] < DRIFTED_END for e in got)
    wrong = by["performance:accuracy"]
    labels = churn.monitor.latest_labels("churn", wrong.sample_event_ids)
    preds = {
        e["event_id"]: e["prediction"] for e in churn.events.get("churn", wrong.sample_event_ids).to_pylist()
    }
    assert wrong.sample_event_ids and all(labels[e] != preds[e] for e in wrong.sample_event_ids)


def test_slice_alerts_only_say_what_the_whole_traffic_does_not(churn: Store) -> None:
    res = check(churn, "churn", until=DRIFTED_END)
    overall = {a["monitor"] for a in res.findings if "@" not in a["monitor"]}
    for a in res.findings:
        if "@" in a["monitor"]:
            assert a["monitor"].split("@")[0] not in overall


def test_webhooks_get_generic_json_and_slack_payloads(churn: Store, hooks: list[Hook]) -> None:
    generic, slack = _hook(hooks), _hook(hooks)
    _configure(
        churn,
        webhooks=[{"url": generic.url}, {"url": slack.url, "format": "slack"}],
        public_url="https://flywheel.example",
        policy={"alert_on": ["output_drift", "data_quality"]},
    )
    res = check(churn, "churn", until=DRIFTED_END)
    assert len(generic.received) == len(res.opened) == len(slack.received)
    doc = generic.received[0]["body"]
    assert generic.received[0]["type"] == "application/json"
    assert doc["type"] == "flywheel.alert" and doc["event"] == "opened" and doc["model"] == "churn"
    assert doc["alert"]["alert_id"] in {a.alert_id for a in res.opened}
    assert doc["links"]["alert"].startswith("https://flywheel.example/models/churn/alerts#")
    msg = slack.received[0]["body"]
    assert isinstance(msg["text"], str) and msg["blocks"][0]["type"] == "section"
    assert msg["blocks"][0]["text"]["type"] == "mrkdwn"
    assert all(d["ok"] and d["attempts"] == 1 for d in res.deliveries)
    # Closing notifies too.
    healed = check(churn, "churn", until=HEALTHY_END)
    closing = [r["body"] for r in generic.received if r["body"]["event"] == "closed"]
    assert {c["alert"]["alert_id"] for c in closing} == {a.alert_id for a in healed.closed}
    assert any(":white_check_mark:" in r["body"]["text"] for r in slack.received)


def test_a_failing_webhook_is_retried_with_backoff_and_every_attempt_logged(
    churn: Store, hooks: list[Hook]
) -> None:
    flaky = _hook(hooks, statuses=[500, 503, 200])
    alert = check(churn, "churn", until=DRIFTED_END, deliver=False).opened[0]
    waits: list[float] = []
    out = deliver(churn, alert, "opened", [Webhook(url=flaky.url, retries=3)], sleep=waits.append)
    assert out[0]["ok"] and out[0]["attempts"] == 3
    assert waits == [0.5, 1.0]
    log = sorted(churn.monitor.deliveries("churn", alert_id=alert.alert_id), key=lambda d: d.attempt)
    assert [(d.attempt, d.ok, d.status_code) for d in log] == [
        (1, False, 500),
        (2, False, 503),
        (3, True, 200),
    ]
    assert all(d.target == redact(flaky.url) and "secret-token" not in d.target for d in log)


def test_a_client_error_is_not_retried_and_a_slow_target_times_out(churn: Store, hooks: list[Hook]) -> None:
    refused = _hook(hooks, statuses=[400])
    slow = _hook(hooks, delay_s=1.0)
    alert = check(churn, "churn", until=DRIFTED_END, deliver=False).opened[0]
    out = deliver(
        churn,
        alert,
        "opened",
        [Webhook(url=refused.url, retries=3), Webhook(url=slow.url, retries=1, timeout_s=0.2)],
        sleep=lambda s: None,
    )
    assert out[0] == {**out[0], "ok": False, "attempts": 1, "status_code": 400}
    assert out[1]["ok"] is False and out[1]["attempts"] == 2 and "Timeout" in out[1]["error"]
    assert len(refused.received) == 1


def test_severity_filter_and_close_opt_out(churn: Store, hooks: list[Hook]) -> None:
    crit = _hook(hooks)
    _configure(
        churn,
        webhooks=[{"url": crit.url, "min_severity": "critical", "on_close": False}],
        policy={"alert_on": ["output_drift", "data_quality"]},
    )
    res = check(churn, "churn", until=DRIFTED_END)
    assert len(crit.received) == sum(a.severity == "critical" for a in res.opened) > 0
    n = len(crit.received)
    check(churn, "churn", until=HEALTHY_END)
    assert len(crit.received) == n


def test_payloads_name_the_alert_without_secrets(churn: Store) -> None:
    alert = check(churn, "churn", until=DRIFTED_END, deliver=False).opened[0]
    doc = json_payload(alert, "opened")
    assert doc["alert"]["monitor"] == alert.monitor and doc["links"]["events"].startswith(
        "/models/churn/events?since="
    )
    text = slack_payload(alert, "opened")["text"]
    assert alert.monitor in text and alert.message in text
    assert redact("https://hooks.slack.com/services/T000/B000/XXXX") == "https://hooks.slack.com/…"


def test_the_monitor_check_job_runs_the_check(churn: Store) -> None:
    job = churn.jobs.submit(
        "monitor-check", {"model": "churn", "until": DRIFTED_END.isoformat()}, model="churn"
    )
    claimed = churn.jobs.claim("test-worker", job_id=job.job_id)
    assert claimed is not None
    done = run_job(churn, Settings(), claimed)
    assert done.status == "succeeded", done.error
    assert "output_drift:prediction" in done.result["churn"]["opened"]
    assert done.progress == 1.0
    assert {a.monitor for a in churn.monitor.open_alerts("churn")} == set(done.result["churn"]["open"])
