"""A real SMTP server for the tests: aiosmtpd, in a thread of its own, on a free port of 127.0.0.1.

    with SmtpServer() as smtp:                      # plain; or mode="starttls" / "tls"
        ... MAIL_URL=smtp.url, or SmtpMailer(host=smtp.host, port=smtp.port, ...)
        [message] = smtp.wait_for(1)                # what it took, parsed
        smtp.answer_data = "451 4.3.0 Try again"    # answer every DATA so (None: take it)
        smtp.stop(); ...; smtp.start()              # down (connections refused), then back

TLS modes use certificates for 127.0.0.1 and localhost signed by a CA made for the test
(`make_certificates`), whose file the client must trust (`ca_file`). `credentials` makes AUTH
required (over TLS, as aiosmtpd insists, except in plain mode where the test allows it).
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.processes import free_port

Mode = Literal["plain", "starttls", "tls"]
SCHEMES = {"plain": "smtp", "starttls": "smtp+starttls", "tls": "smtps"}
WAIT = 30.0  # seconds: a generous deadline for mail to arrive
# aiosmtpd warns at each connection of a server that takes AUTH without STARTTLS: tests do it on
# purpose (a local relay; implicit TLS, which it does not count, is encrypted). Mark them with it.
AUTH_WITHOUT_STARTTLS = "ignore:Requiring AUTH while not requiring TLS"


@dataclass(frozen=True)
class Certificates:
    ca_file: str  # what a client trusts
    cert_file: str
    key_file: str


def make_certificates(directory: str | Path) -> Certificates:
    """A CA, and a server certificate it signs for localhost and 127.0.0.1, as PEM files."""
    directory = Path(directory)
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("sessionauth test CA"))
        .issuer_name(name("sessionauth test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(
        ca_file=str(directory / "ca.pem"),
        cert_file=str(directory / "server.pem"),
        key_file=str(directory / "server.key"),
    )
    Path(files.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(files.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(files.key_file).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self._server.answer_rcpt is not None:
            return self._server.answer_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._server.answer_data is not None:
            return self._server.answer_data
        self._server._took(envelope)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(
        self,
        mode: Mode = "plain",
        *,
        credentials: tuple[str, str] | None = None,
        port: int | None = None,
        certificates: Certificates | None = None,
    ) -> None:
        self.mode = mode
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.credentials = credentials
        self.answer_rcpt: str | None = None  # e.g. "550 5.1.1 No such user"
        self.answer_data: str | None = None  # e.g. "451 4.3.0 Try again later"
        self.envelopes: list[Envelope] = []
        self.logins: list[str] = []  # user names that authenticated
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        if certificates is None and mode != "plain":
            self._directory = tempfile.TemporaryDirectory(prefix="smtp-certs-")
            certificates = make_certificates(self._directory.name)
        self.certificates = certificates

    @property
    def ca_file(self) -> str | None:
        return self.certificates.ca_file if self.certificates else None

    def url(self, *, with_credentials: bool = True) -> str:
        user = ""
        if self.credentials and with_credentials:
            user = f"{self.credentials[0]}:{self.credentials[1]}@"
        return f"{SCHEMES[self.mode]}://{user}{self.host}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._arrived:
            return [_parse(e) for e in self.envelopes]

    def wait_for(self, count: int, timeout: float = WAIT) -> list[EmailMessage]:
        """The messages taken, once there are at least `count`; fails after `timeout`."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.envelopes) >= count, timeout):
                raise AssertionError(f"{len(self.envelopes)} messages arrived, not {count}")
        return self.messages

    def stays_at(self, count: int, seconds: float) -> bool:
        """True when, `seconds` later, exactly `count` messages have arrived (no duplicate came)."""
        time.sleep(seconds)
        return len(self.envelopes) == count

    def start(self) -> SmtpServer:
        tls_context = None
        if self.certificates is not None:
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(self.certificates.cert_file, self.certificates.key_file)
        options: dict = {"hostname": self.host, "port": self.port}
        if self.mode == "tls":
            options["ssl_context"] = tls_context
        elif self.mode == "starttls":
            options["tls_context"] = tls_context
            options["require_starttls"] = True
        if self.credentials is not None:
            options["authenticator"] = self._authenticate
            options["auth_required"] = True
            # aiosmtpd counts only STARTTLS as TLS; implicit TLS is encrypted from the start.
            # Plain mode stands for a local relay, where AUTH in the clear is the operator's call.
            options["auth_require_tls"] = self.mode == "starttls"
        self._controller = Controller(_Handler(self), **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until `start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        self.stop()
        if self._directory is not None:
            self._directory.cleanup()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        if (user, password) != self.credentials:
            return AuthResult(success=False, handled=False)
        self.logins.append(user)
        return AuthResult(success=True)

    def _took(self, envelope: Envelope) -> None:
        with self._arrived:
            self.envelopes.append(envelope)
            self._arrived.notify_all()


def _parse(envelope: Envelope) -> EmailMessage:
    content = envelope.content
    raw = content if isinstance(content, bytes) else str(content).encode()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
