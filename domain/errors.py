"""Domain errors. Messages are safe to show a client: none ever holds a password, hash or token."""

from enum import StrEnum


class DomainError(Exception):
    """Base of every error the core raises on purpose."""


class PolicyViolation(DomainError):
    """An input breaks a rule (username or password policy); `field` names the input."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


class InvalidUsername(PolicyViolation):
    def __init__(self, code: str, message: str) -> None:
        super().__init__("username", code, message)


class InvalidPassword(PolicyViolation):
    def __init__(self, code: str, message: str, field: str = "password") -> None:
        super().__init__(field, code, message)


class InvalidEmail(PolicyViolation):
    def __init__(self, message: str, field: str = "email") -> None:
        super().__init__(field, "email", message)


class UsernameTaken(DomainError):
    def __init__(self) -> None:
        super().__init__("Username already taken")


class InvalidCredentials(DomainError):
    """Unknown user, wrong password or unusable input: deliberately indistinguishable."""

    def __init__(self) -> None:
        super().__init__("Invalid credentials")


class NotAuthenticated(DomainError):
    """The request names no usable session (none, malformed, unknown or revoked)."""

    def __init__(self, message: str = "Not authenticated") -> None:
        super().__init__(message)


class SessionExpired(NotAuthenticated):
    def __init__(self) -> None:
        super().__init__("Session expired")


class PurgeInProgress(DomainError):
    """Another instance is purging expired sessions right now; this one leaves it to that one."""

    def __init__(self) -> None:
        super().__init__("Another instance is purging expired sessions")


class OutageCause(StrEnum):
    """Why the store could not be used: a fixed set, which the metrics count 503 answers by. The
    message a client sees is the same for each."""

    NOT_OPEN = "not_open"  # not opened yet, or already closed (start-up, shutdown)
    UNREACHABLE = "unreachable"  # no connection could be made, or one was lost
    TIMEOUT = "timeout"  # connecting or a statement took longer than the store allows
    POOL_EXHAUSTED = "pool_exhausted"  # every pooled connection stayed busy past the timeout
    TOO_MANY_CONNECTIONS = "too_many_connections"  # the server has no connection left to give
    REJECTED = "rejected"  # the server refuses the role, its password or the database name
    READ_ONLY = "read_only"  # the server takes no writes (a standby, after a failover say)


class StoreUnavailable(DomainError):
    """The store cannot be reached right now; the caller may retry later. `cause` says why, for
    the operator's log (never a password); the message, which a client may see, does not."""

    def __init__(self, cause: OutageCause = OutageCause.UNREACHABLE, detail: str = "") -> None:
        super().__init__("Store unavailable")
        self.cause = cause
        # In the operator's words: the server's own message where there is one.
        self.detail = detail or cause.replace("_", " ")


class StoreMisconfigured(StoreUnavailable):
    """The store answers but will never accept this configuration (a wrong role or password, a
    database that does not exist, a malformed URL, a role without the rights it needs): waiting
    will not help. At start it is a configuration error; to a request it is an outage like any
    other, hence the base class."""

    def __init__(self, detail: str) -> None:
        super().__init__(OutageCause.REJECTED, detail)


class HashingOverloaded(DomainError):
    """The bounded password-hashing queue is full, or a request waited past its deadline."""

    def __init__(self) -> None:
        super().__init__("Too many password checks in progress")


class WrongPassword(DomainError):
    """The current password given to confirm a change is wrong (403, not 401: the caller is
    authenticated; it is the confirmation that failed)."""

    def __init__(self) -> None:
        super().__init__("Current password is wrong")


class SessionNotFound(DomainError):
    """No active session of the caller has that id: unknown, foreign and revoked look alike."""

    def __init__(self) -> None:
        super().__init__("Session not found")


class UnknownUser(DomainError):
    def __init__(self) -> None:
        super().__init__("No such user")


class InvalidToken(DomainError):
    """A link's token is unknown, used, expired, malformed or no longer applies: one answer for
    all, so that a token tells nothing about the account it was for."""

    def __init__(self) -> None:
        super().__init__("Invalid or expired token")


class EmailTaken(DomainError):
    """Another account holds that address verified (one account at a time may)."""

    def __init__(self) -> None:
        super().__init__("Another account has verified this email address")


class EmailAlreadyVerified(DomainError):
    def __init__(self) -> None:
        super().__init__("Email address already verified")


class NoEmailAddress(DomainError):
    """The account names no address to verify (set one with PUT /email)."""

    def __init__(self) -> None:
        super().__init__("No email address to verify")


class Throttled(DomainError):
    """Too many failures (or sign-ups) in the window; `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many attempts; try again later")
        self.retry_after = max(1, retry_after)


class MigrationChanged(DomainError):
    """An applied migration's file is not the one that was applied (its checksum differs): its
    effect cannot be known, so it is neither run again nor ignored."""

    def __init__(self, file: str) -> None:
        super().__init__(
            f"migration {file} was changed after it was applied (its checksum differs); "
            "restore the file as it was and add a new migration for the change"
        )
        self.file = file


# Second factors. Each message is the `detail` the HTTP API answers (the spec's wording).


class SecondFactorRequired(DomainError):
    """The account has a second factor and the request proves none: a re-auth body without one
    (403), a reset without one (403, the token stays usable), or `/auth/verify?aal=2` for a
    session of level 1 (403)."""

    def __init__(self) -> None:
        super().__init__("Second factor required")


class MfaPending(DomainError):
    """The right password for an account with a second factor: the login continues at
    POST /login/mfa, within the pending login `token` names (202, a short-lived cookie)."""

    def __init__(self, token: str, methods: list[str], max_age: int) -> None:
        super().__init__("Second factor required")
        self.token = token  # the pending login's secret: for the cookie, never logged
        self.methods = methods
        self.max_age = max_age

    def __repr__(self) -> str:
        return f"MfaPending(methods={self.methods!r})"  # never the token


class InvalidCode(DomainError):
    """A wrong, replayed or malformed TOTP or recovery code, or a refused WebAuthn assertion, at
    the second login step (401)."""

    def __init__(self) -> None:
        super().__init__("Invalid code")


class WrongSecondFactor(DomainError):
    """The second factor of a re-auth body is wrong (403, and a failed login for the account)."""

    def __init__(self) -> None:
        super().__init__("Second factor is wrong")


class FactorAlreadyActive(DomainError):
    def __init__(self) -> None:
        super().__init__("TOTP is already active")


class NoFactorSetup(DomainError):
    """POST /mfa/totp/confirm with no set-up pending (400)."""

    def __init__(self) -> None:
        super().__init__("No TOTP set-up pending")


class WrongSetupCode(PolicyViolation):
    """The first code of a TOTP set-up is wrong (422 naming `code`, as every other refused
    input): the set-up stays pending."""

    def __init__(self) -> None:
        super().__init__("code", "wrong_code", "Wrong code")


class FactorNotFound(DomainError):
    """No such factor of the caller: no TOTP active, an unknown or foreign credential id (404)."""

    def __init__(self, what: str = "Factor") -> None:
        super().__init__(f"{what} not found")


class NoSecondFactor(DomainError):
    """Recovery codes asked for by an account without a second factor (409)."""

    def __init__(self) -> None:
        super().__init__("No second factor enrolled")


class CeremonyFailed(DomainError):
    """A WebAuthn registration with no ceremony pending, or one the library refused (400). The
    reason is for the audit log, never the answer."""

    def __init__(self, reason: str = "no ceremony pending") -> None:
        super().__init__("WebAuthn registration failed")
        self.reason = reason
