"""The exception tree.

    NewsletterError          a problem the user can fix; the CLI prints it as one line
    ├── ConfigError          a bad setting (names the key)
    ├── SourceError          the paper source failed after bounded retries
    │   └── SourceUnreachable   could not connect at all
    ├── LLMError             the model endpoint failed for good (this call)
    │   ├── LLMTransient        429 / 5xx / timeout / dropped connection: retried with backoff
    │   │   └── LLMUnreachable     cannot connect; when retries run out the stage stops
    │   ├── LLMConfigError      bad key / unknown model / endpoint down: stop the stage at once
    │   ├── LLMModelGone        the embedded model's server died or cannot start: the stage
    │   │                       goes on, what is left keeps its abstract (exit code 3)
    │   └── LLMContentFiltered  the endpoint will not process this text: asking again is futile
    ├── SpeechError          a speech engine failed on some text
    ├── SMTPUnavailable      the SMTP server cannot be reached or refuses us (login, TLS)
    ├── DatabaseUnavailable  the database cannot be opened (server down, no such database)
    ├── LockHeld             another process is building the same issue (exit code 75)
    ├── NotApproved          approval is required and the issue is not approved yet
    ├── NotFoundError        an issue, paper or file the user named does not exist
    └── UserInputError       a file or argument the user gave is not usable
        ├── BadToken            a link that is forged, tampered with, expired or misused
        └── BadAddress          a subscriber address that cannot go into a message header

Anything else that escapes is a bug and is raised with its traceback.  A stage that
finishes with some texts (or deliveries) missing exits with `PARTIAL` (3).
"""

from __future__ import annotations

PARTIAL = 3  # exit code: the stage finished, but some texts (or deliveries) failed


class NewsletterError(Exception):
    """An error meant for the user: the message says what happened and what to do next."""

    exit_code = 1


class ConfigError(NewsletterError):
    exit_code = 2


class SourceError(NewsletterError):
    pass


class SourceUnreachable(SourceError):
    pass


class LLMError(NewsletterError):
    pass


class LLMTransient(LLMError):
    """A failure worth retrying; `retry_after` is the server's Retry-After, if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMUnreachable(LLMTransient):
    pass


class LLMConfigError(LLMError):
    pass


class LLMModelGone(LLMError):
    """The embedded model is not available for the rest of this stage (crashed, killed,
    weights missing or not the pinned file): no more calls, and no stage failure."""


class LLMContentFiltered(LLMError):
    """The endpoint answered that its content filter blocks this prompt or its reply: the
    same request gets the same answer, so the outcome is stored like an unusable reply."""


class NotFoundError(NewsletterError):
    pass


class UserInputError(NewsletterError):
    pass


class BadToken(UserInputError):
    """A link that is forged, tampered with, expired or made for something else."""


class BadAddress(UserInputError):
    """A subscriber address that cannot be written into a message header."""


class SpeechError(NewsletterError):
    """A speech engine failed on some text."""


class SMTPUnavailable(NewsletterError):
    """The SMTP server cannot be reached or refuses us (login, TLS)."""


class DatabaseUnavailable(NewsletterError):
    """The configured database cannot be reached or opened (names `database_url`)."""


class LockHeld(NewsletterError):
    """Another process is building the same issue."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class NotApproved(NewsletterError):
    """The issue waits for the editor's approval (setting `approval = "required"`)."""

    def __init__(self, week: str) -> None:
        super().__init__(
            f"issue {week} is awaiting approval: review it at the desk, then run "
            f"`newsletter approve {week}`"
        )
        self.week = week
