"""Email addresses checked and normalised by `email-validator`, with no network look-up (a
sign-up must not wait for, or depend on, DNS)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from domain.errors import InvalidEmail
from domain.ports import EmailAddresses


class EmailValidatorAddresses(EmailAddresses):
    def normalize(self, raw: str) -> str:
        """The normalised address (the domain lower-cased and IDNA-encoded as Unicode, the local
        part as typed), or InvalidEmail with the library's reason. Internationalised addresses
        are accepted: a server that cannot deliver to one refuses it, and the outbox keeps it."""
        try:
            return validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise InvalidEmail(f"Email address is not valid: {error}") from None
