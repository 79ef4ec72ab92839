"""The names of the security events the use-cases record: one list, which the audit log writes
and the metrics count, so that a new event cannot be emitted without its counter."""

from enum import StrEnum


class AuditEvent(StrEnum):
    SIGNUP = "signup"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"  # qualified by action="password_change" for a wrong current one
    THROTTLED = "throttled"  # qualified by action: signup, login or password_change
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event name, not a password)
    PASSWORD_REHASHED = "password_rehashed"  # noqa: S105 (an event name, not a password)
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"  # qualified by scope: single, others or all
    # Account lifecycle. SESSION_REVOKED also takes scope "limit" (one event per session a login
    # beyond SESSION_LIMIT_PER_USER ended) and "everyone" (revoke-sessions --all, with
    # revoked_sessions); LOGIN_FAILED and THROTTLED take action "account_delete" (DELETE /account).
    LOGIN_DISABLED = "login_disabled"  # the right password for a disabled account (answered 401)
    ACCOUNT_DISABLED = "account_disabled"  # with revoked_sessions
    ACCOUNT_ENABLED = "account_enabled"
    ACCOUNT_DELETED = "account_deleted"  # by "self" or "admin", with revoked_sessions
    NOTICE_QUEUED = "notice_queued"  # qualified by kind (domain.mail.NOTICE_KINDS)
    NOTICE_DROPPED = "notice_dropped"  # qualified by kind: over the account's mail quota
    # Accounts: email addresses and recovery. Qualified by `purpose` (verify_email or
    # reset_password) where a token is concerned, and `reason` where one is refused.
    EMAIL_CHANGED = "email_changed"
    EMAIL_VERIFICATION_REQUESTED = "email_verification_requested"
    EMAIL_VERIFIED = "email_verified"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 (an event name)
    PASSWORD_RESET = "password_reset"  # noqa: S105 (an event name)
    TOKEN_REFUSED = "token_refused"  # noqa: S105 (an event name)
    # The outbox sender, qualified by kind (domain.mail.MailKind); never the recipient or bodies.
    MAIL_SENT = "mail_sent"
    MAIL_DEFERRED = "mail_deferred"  # not taken for now (server down, 4xx): tried again later
    MAIL_FAILED = "mail_failed"  # refused for good (5xx) or given up: kept, not sent
    # Second factors, qualified by `factor` (totp, recovery_code, webauthn, passkey) and, where
    # one is refused, `reason`. LOGIN_SUCCEEDED gains `aal` and `methods`; LOGIN_FAILED takes
    # action "mfa" for a wrong second step; a re-auth's wrong factor is LOGIN_FAILED with the
    # change's action.
    MFA_REQUIRED = "mfa_required"  # the right password; the login waits for a second factor
    FACTOR_ENROLLED = "factor_enrolled"  # with revoked_sessions
    FACTOR_REMOVED = "factor_removed"  # with revoked_sessions
    FACTOR_USED = "factor_used"  # a second step, a passkey login or a re-auth passed with it
    FACTOR_REFUSED = "factor_refused"  # a wrong code or assertion (reason)
    FACTOR_REPLAYED = "factor_replayed"  # a TOTP code of a time step already used
    COUNTER_REGRESSION = "counter_regression"  # a WebAuthn signature counter that did not grow
    RECOVERY_CODES_RENEWED = "recovery_codes_renewed"  # with revoked_sessions
