"""Email over SMTP: STARTTLS (or TLS from the first byte) and login when configured.

Each message carries ``Message-ID: <delivery id@headroom>``, the same on every attempt, so that
a mail system that drops duplicates by Message-ID can; SMTP itself promises nothing, so the
channel does not claim to be idempotent.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from pydantic import BaseModel, ConfigDict, Field

from headroom.delivery.channels import (
    Channel,
    Outgoing,
    RefusedError,
    RetryLaterError,
    channel_kind,
    unreachable,
)


@channel_kind("email")
class Email(Channel):
    """Send the message as a plain-text email to its recipient."""

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
        host: str
        port: int = 587
        starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS")
        ssl: bool = Field(default=False, description="TLS from the first byte (port 465)")
        username: str | None = None
        password: str | None = None
        sender: str = Field(description="From:, e.g. 'TeamFlow <success@teamflow.example>'")
        ca_file: str | None = Field(default=None, description="CA bundle to trust (PEM)")
        timeout: float = Field(default=30.0, gt=0)

    def _context(self) -> ssl.SSLContext:
        s: Email.Settings = self.settings
        return ssl.create_default_context(cafile=s.ca_file)

    def send(self, message: Outgoing) -> None:
        s: Email.Settings = self.settings
        if not message.recipient:
            raise RefusedError("no address to send to: the recipient rendered empty")
        mail = EmailMessage()
        mail["From"] = s.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = f"<{message.key}@headroom>"
        mail["X-Headroom-Play"] = str(message.payload.get("play", {}).get("id", ""))
        mail.set_content(message.body)
        where = f"{s.host}:{s.port}"
        try:
            if s.ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with smtp:
                if s.starttls and not s.ssl:
                    smtp.starttls(context=self._context())
                if s.username:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise RefusedError(f"{where} refused the login ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            _answer(where, code, text, f"refused {message.recipient}")
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            _answer(where, exc.smtp_code, exc.smtp_error, "refused the message")
        except smtplib.SMTPNotSupportedError:
            raise RefusedError(f"{where} does not offer STARTTLS; set starttls: false") from None
        except ssl.SSLError as exc:
            raise RefusedError(f"{where}: TLS failed ({exc.reason})") from None
        except TimeoutError:
            raise RetryLaterError(f"{where} did not answer within {s.timeout:g} s") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise unreachable(where, exc) from None


def _answer(where: str, code: int, text: bytes | str, what: str) -> None:
    said = text.decode(errors="replace") if isinstance(text, bytes) else text
    reason = f"{where} {what}: {code} {said}"
    if 400 <= code < 500:
        raise RetryLaterError(reason)
    raise RefusedError(reason)
