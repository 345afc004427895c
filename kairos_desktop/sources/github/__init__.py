"""Pull-request subscriptions: GitHub polled with ETags, each new review, comment, finished
check, push, merge and close queued once as outside text.

client.py talks HTTP (ETags, rate limits, errors), poll.py decides which requests one poll
makes, diff.py what in the answers is new, render.py the text the model reads, and
subscriptions.py is the source itself (the store, the schedule, the backoff).
"""

from __future__ import annotations

from .client import (
    GitHubClient,
    GitHubError,
    GitHubRateLimitError,
    GitHubRequestError,
    InvalidSubscriptionError,
    PullRequestNotFoundError,
    resolve_token,
    validate_target,
)
from .subscriptions import TABLE, PRSubscriptions, subscription_key

__all__ = [
    "TABLE",
    "GitHubClient",
    "GitHubError",
    "GitHubRateLimitError",
    "GitHubRequestError",
    "InvalidSubscriptionError",
    "PRSubscriptions",
    "PullRequestNotFoundError",
    "resolve_token",
    "subscription_key",
    "validate_target",
]
