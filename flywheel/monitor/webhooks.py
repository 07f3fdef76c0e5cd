"""Alert delivery to webhooks: a generic JSON document or a Slack-compatible message.

Each webhook gets one POST per alert event (``opened``, ``closed``), with a timeout, retried
with exponential backoff on connection errors, timeouts, 429 and 5xx answers (a 4xx other
than 429 is final: retrying will not fix it). Every attempt is recorded in the delivery log
(``GET /v1/models/{m}/alerts/{id}``). Webhook URLs often carry a secret in their path (Slack's
do), so the log keeps only the scheme and host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from flywheel.monitor.config import SEVERITY_ORDER, Webhook

log = logging.getLogger("flywheel.monitor")
EMOJI = {"warning": ":warning:", "critical": ":rotating_light:", "info": ":information_source:"}


def redact(url: str) -> str:
    """``scheme://host/…``: enough to tell targets apart, without the secret in the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"


def _links(alert: Any, public_url: str | None) -> dict[str, str]:
    base = (public_url or "").rstrip("/")
    return {
        "alert": f"{base}/models/{alert.model}/alerts#{alert.alert_id}",
        "events": f"{base}/models/{alert.model}/events?since={alert.window_start.isoformat()}"
        f"&until={alert.window_end.isoformat()}",
    }


def json_payload(alert: Any, event: str, public_url: str | None = None) -> dict[str, Any]:
    """The generic document: the alert record, what happened to it, and links."""
    return {
        "type": "flywheel.alert",
        "event": event,
        "model": alert.model,
        "alert": alert.to_dict(),
        "links": _links(alert, public_url),
    }


def slack_payload(alert: Any, event: str, public_url: str | None = None) -> dict[str, Any]:
    """A Slack incoming-webhook message: a ``text`` fallback and ``blocks`` in mrkdwn."""
    links = _links(alert, public_url)
    if event == "closed":
        head = f":white_check_mark: Resolved on *{alert.model}*: `{alert.monitor}`"
    else:
        head = f"{EMOJI.get(alert.severity, '')} *{alert.severity.upper()}* on *{alert.model}*: `{alert.monitor}`"
    window = f"{alert.window_start:%Y-%m-%d %H:%M} to {alert.window_end:%Y-%m-%d %H:%M} UTC"
    body = f"{alert.message}\nWindow: {window}"
    if public_url:
        body += f"\n<{links['alert']}|Open the alert> · <{links['events']}|Events behind it>"
    return {
        "text": f"{head} — {alert.message}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": head}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        ],
    }


def deliver(
    store: Any,
    alert: Any,
    event: str,
    webhooks: list[Webhook],
    *,
    public_url: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff_s: float = 0.5,
) -> list[dict[str, Any]]:
    """Send one alert event to every webhook that wants it; returns one outcome per webhook."""
    outcomes: list[dict[str, Any]] = []
    client = httpx.Client()
    try:
        return _deliver_all(store, alert, event, webhooks, client, public_url, sleep, backoff_s, outcomes)
    finally:
        client.close()


def _deliver_all(
    store: Any,
    alert: Any,
    event: str,
    webhooks: list[Webhook],
    client: httpx.Client,
    public_url: str | None,
    sleep: Callable[[float], None],
    backoff_s: float,
    outcomes: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    for hook in webhooks:
        if event == "closed" and not hook.on_close:
            continue
        if SEVERITY_ORDER.get(alert.severity, 0) < SEVERITY_ORDER[hook.min_severity]:
            continue
        url = str(hook.url)
        body = (slack_payload if hook.format == "slack" else json_payload)(alert, event, public_url)
        ok, status, error, attempt = False, None, None, 0
        for attempt in range(1, hook.retries + 2):
            status, error = None, None
            try:
                resp = client.post(url, json=body, timeout=hook.timeout_s)
                status = resp.status_code
                ok = 200 <= status < 300
                if not ok:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            store.monitor.record_delivery(
                alert_id=alert.alert_id,
                model=alert.model,
                event=event,
                target=redact(url),
                format=hook.format,
                attempt=attempt,
                ok=ok,
                status_code=status,
                error=error,
            )
            final = ok or (status is not None and 400 <= status < 500 and status != 429)
            if final or attempt == hook.retries + 1:
                break
            sleep(min(backoff_s * 2 ** (attempt - 1), 30.0))
        if not ok:
            log.warning("webhook %s failed for alert %s: %s", redact(url), alert.alert_id, error)
        outcomes.append(
            {
                "target": redact(url),
                "format": hook.format,
                "ok": ok,
                "attempts": attempt,
                "status_code": status,
                "error": error,
            }
        )
    return outcomes
