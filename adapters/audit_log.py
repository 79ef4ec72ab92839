"""Audit events as structured log records on the `sessionauth.audit` logger."""

import logging

from domain.audit import AuditEvent
from domain.client import Client
from domain.ports import AuditLog

_log = logging.getLogger("sessionauth.audit")


class LoggingAuditLog(AuditLog):
    """One log record per event; the JSON formatter makes it one line with every field. The
    port never receives a password, hash or token, so none can reach the log."""

    def record(
        self,
        event: AuditEvent,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        client: Client | None = None,
        **details: object,
    ) -> None:
        fields: dict[str, object] = {
            "event": str(event),
            "user_id": user_id,
            "session_id": session_id,
        }
        if client is not None:
            fields["client_address"] = client.address
            fields["user_agent"] = client.user_agent
        fields.update(details)
        _log.info(
            str(event), extra={"audit": True, **{k: v for k, v in fields.items() if v is not None}}
        )
