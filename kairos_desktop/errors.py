"""Exception classes with messages a user can act on.

Every error the app raises on purpose is one of these, so the CLI can print its message and exit
with a precise status instead of a traceback, and tests can match the words a user will read.
"""

from __future__ import annotations


class KairosError(Exception):
    """Base class: the message is written for the user and says what to do."""


class NotFoundError(KairosError):
    """An action names something that does not exist (an inbox item, a task, a message)."""


class ConflictError(KairosError):
    """An action cannot be done in the current state (a script to open, nothing to undo)."""


class GoneError(KairosError):
    """What an action names existed but is gone (a delivered file moved or deleted)."""


class InputError(KairosError):
    """A front end passed a value of the wrong type or shape; `key` names the field."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SettingsError(KairosError):
    """settings.json or a value for it is wrong; names the key."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class StoreCorruptError(KairosError):
    """store.json cannot be read; the file is kept untouched."""


class HomeLockedError(KairosError):
    """Another process holds this home."""


class PathNotAllowedError(KairosError):
    """A file tool asked for a path outside the folders it may use."""


class ToolInputError(KairosError):
    """The model called a tool with arguments that do not fit its schema."""


# What went wrong with a model call, in the words the user reads (model.py names each failure).
# Waited out with backoff: the same request may succeed later.
MODEL_TRANSIENT_KINDS = frozenset({"unreachable", "timed out", "overloaded", "rate limited",
                                   "server error", "broken reply"})
# The user has to fix something (the key, the model setting, the account) before a retry helps.
MODEL_FIX_KINDS = frozenset({"no key", "key rejected", "not allowed", "unknown model",
                             "no credit"})
# "refused": the API refused THIS request for its content (400/413: a prompt too long, a bad
# image); sending it again cannot help, so what it carried is set aside.


class ModelUnavailableError(KairosError):
    """A model call failed; what the turn carries stays queued (or is set aside when refused).

    Every failure of a call is this one class: `kind` says what it was (refused, unreachable,
    timed out, overloaded, rate limited, server error, broken reply, no key, key rejected, not
    allowed, unknown model, no credit), `status` the HTTP status when there was one, and the
    message says it in the user's words. `retryable` is False when trying the same request again
    cannot help: the loop then waits longer and tells the user what to fix."""

    def __init__(self, message: str, *, retryable: bool | None = None, status: int | None = None,
                 kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = kind in MODEL_TRANSIENT_KINDS if retryable is None else retryable
        self.status = status

    @property
    def refused(self) -> bool:
        """The API refused this request for its content: set it aside, never send it again."""
        return self.kind == "refused"


class NoApiKeyError(KairosError):
    """No Anthropic API key is configured."""


class NotRunningError(KairosError):
    """No instance is running for this home (or the action needs the running app)."""


class NotAnsweringError(KairosError):
    """An instance runs for this home (its control API took the connection, or its process is
    alive) but did not answer in time: busy or hung, NOT stopped. Never a NotRunningError, so
    nothing falls back to the home's files under the app's feet; the message names the pid."""


class ControlAPIError(KairosError):
    """The running instance answered a control request with an error."""


class InvalidCronError(KairosError):
    """A cron expression is malformed or can never fire; says which and how to write it."""


class TaskNotFoundError(NotFoundError):
    """No scheduled task has that id."""


class TaskLimitError(KairosError):
    """Creating a task would pass the maxScheduledTasks setting."""


class MemoryLimitError(KairosError):
    """A memory write would break a limit (index size, topic size) or is ambiguous."""


class ApiKeyError(KairosError):
    """A pasted API key that cannot be right (empty, spaces, too short)."""


class ApprovalNotFoundError(NotFoundError):
    """A decision names an approval request this process never made (or made before a restart,
    which denies every pending one)."""


class ApprovalClosedError(ConflictError):
    """A decision came for an approval request that was already decided or has expired.

    `state` is what it ended as: "allowed", "denied" or "expired"."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state
