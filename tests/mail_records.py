"""A message as the use-cases queue it, for the mail tests."""

from datetime import UTC, datetime

from domain.mail import MailKind, MailMessage

TOKEN = "tok_" + "Z" * 43  # stands for a reset token: may appear in the message, nowhere else


def a_message(to: str = "alice@example.com", **fields) -> MailMessage:
    values = {
        "id": "0b7c6d3e-8a1f-4c55-9d1e-7a2b3c4d5e6f",
        "kind": MailKind.PASSWORD_RESET,
        "to": to,
        "subject": "Reset your sessionauth password",
        "text": f"Reset it here: https://auth.example/ui/reset-password?token={TOKEN}\n",
        "html": f'<p><a href="https://auth.example/ui/reset-password?token={TOKEN}">Reset</a></p>',
        "user_id": "user-1",
        "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }
    values.update(fields)
    return MailMessage(**values)
