"""Every audit event the use-cases can record moves a counter on /metrics: the event names are one
enumeration (domain/audit.py), and a name added there without its row in the metrics table fails
here."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from domain.audit import AuditEvent
from domain.mail import NOTICE_KINDS, MailKind
from tests.fakes import RecordingAuditLog

# The qualifiers the use-cases pass with an event (see tests/unit/test_audit_events.py).
QUALIFIERS = [{}] + [{"action": a} for a in ("signup", "login", "password_change")]
QUALIFIERS += [{"scope": s} for s in ("single", "others", "all")]
QUALIFIERS += [{"action": "account_delete"}] + [{"scope": s} for s in ("limit", "everyone")]
QUALIFIERS += [{"kind": k} for k in NOTICE_KINDS]
QUALIFIERS += [{"action": a} for a in ("email_change", "verification_resend", "password_forgot")]
QUALIFIERS += [{"purpose": p} for p in ("verify_email", "reset_password")]
QUALIFIERS += [{"kind": str(k)} for k in MailKind]  # the outbox sender's events
QUALIFIERS += [{"factor": f} for f in ("totp", "recovery_code", "webauthn", "passkey", "any")]


def counter_totals(metrics: PrometheusMetrics) -> dict[tuple, float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.type == "counter"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


@pytest.mark.parametrize("event", list(AuditEvent))
def test_every_audit_event_moves_a_counter(event):
    moved = []
    for details in QUALIFIERS:
        metrics = PrometheusMetrics()
        before = counter_totals(metrics)
        MeteredAuditLog(RecordingAuditLog(), metrics).record(
            event, user_id="u", revoked_sessions=1, **details
        )
        after = counter_totals(metrics)
        moved += [key for key, value in after.items() if value != before.get(key, 0)]
    assert moved, f"{event} is recorded but no metric counts it"


def test_events_are_written_as_their_plain_names():
    recorded = RecordingAuditLog()
    MeteredAuditLog(recorded, PrometheusMetrics()).record(AuditEvent.LOGOUT)
    assert recorded.names() == ["logout"]


@pytest.mark.parametrize(
    ("event", "details", "counter", "labels", "amount"),
    [
        (AuditEvent.LOGIN_DISABLED, {}, "sessionauth_logins_total", {"outcome": "disabled"}, 1),
        (
            AuditEvent.ACCOUNT_DISABLED,
            {"revoked_sessions": 3},
            "sessionauth_sessions_revoked_total",
            {"scope": "disabled"},
            3,
        ),
        (
            AuditEvent.ACCOUNT_DISABLED,
            {"revoked_sessions": 3},
            "sessionauth_account_state_changes_total",
            {"change": "disabled"},
            1,
        ),
        (
            AuditEvent.ACCOUNT_ENABLED,
            {},
            "sessionauth_account_state_changes_total",
            {"change": "enabled"},
            1,
        ),
        (
            AuditEvent.ACCOUNT_DELETED,
            {"by": "self", "revoked_sessions": 2},
            "sessionauth_sessions_revoked_total",
            {"scope": "deleted"},
            2,
        ),
        (
            AuditEvent.ACCOUNT_DELETED,
            {"by": "admin", "revoked_sessions": 2},
            "sessionauth_account_deletions_total",
            {"outcome": "success"},
            1,
        ),
        (
            AuditEvent.LOGIN_FAILED,
            {"action": "account_delete"},
            "sessionauth_account_deletions_total",
            {"outcome": "invalid"},
            1,
        ),
        (
            AuditEvent.THROTTLED,
            {"action": "account_delete"},
            "sessionauth_account_deletions_total",
            {"outcome": "throttled"},
            1,
        ),
        (
            AuditEvent.SESSION_REVOKED,
            {"scope": "limit"},
            "sessionauth_sessions_revoked_total",
            {"scope": "limit"},
            1,
        ),
        (
            AuditEvent.SESSION_REVOKED,
            {"scope": "everyone", "revoked_sessions": 7},
            "sessionauth_sessions_revoked_total",
            {"scope": "everyone"},
            7,
        ),
    ],
)
def test_account_lifecycle_events_move_their_own_counters(event, details, counter, labels, amount):
    metrics = PrometheusMetrics()
    before = counter_totals(metrics)
    key = (counter, tuple(sorted(labels.items())))
    assert key in before  # the series exists from the start, at zero
    MeteredAuditLog(RecordingAuditLog(), metrics).record(event, user_id="u", **details)
    after = counter_totals(metrics)
    assert after[key] - before[key] == amount
    # a refused deletion is not a failed login, nor a deletion a revocation by the user's scope
    assert {k for k, v in after.items() if v != before.get(k, 0)} <= {
        key,
        ("sessionauth_account_state_changes_total", (("change", "disabled"),)),
        ("sessionauth_sessions_revoked_total", (("scope", "disabled"),)),
        ("sessionauth_account_deletions_total", (("outcome", "success"),)),
        ("sessionauth_sessions_revoked_total", (("scope", "deleted"),)),
    }
