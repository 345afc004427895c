"""The text of pull-request events, as the model reads them.

Why its own module: everything here is someone else's words (a reviewer's body, a check's name),
cut to a bounded length and put into one line of context, and the tests read these exact texts.
Keeping the wording apart from the diffing means changing a sentence never touches what counts
as new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...queue import InboundItem

BODY_LIMIT = 500  # characters of a stranger's text in one item
TITLE_LIMIT = 120
COMMENTS_PER_ITEM = 5
ANNOUNCED_REVIEWS = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "requested changes on",
    "COMMENTED": "commented on",
}

Doc = dict[str, Any]


@dataclass
class PREvent:
    """One thing that happened on a PR: one item in the queue."""

    event: str  # review | review_comment | comment | check_run | commits | merged | closed
    text: str
    url: str
    review_id: int | None = None
    comments: list[Doc] = field(default_factory=list)  # review comments folded into a review


def cut(text: object, limit: int = BODY_LIMIT) -> str:
    cleaned = str(text or "").replace("\r\n", "\n").strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def login(user: object) -> str:
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return user["login"]
    return "someone"


def label(ref: str, title: object) -> str:
    """`ref` ("owner/name#7") with the PR's title when it is known."""
    return f"{ref} “{cut(title, TITLE_LIMIT)}”" if title else ref


def where(comment: Doc) -> str:
    path = str(comment.get("path") or "the diff")
    line = comment.get("line") or comment.get("original_line")
    return f"{path}:{line}" if line else path


def comment_lines(comments: Sequence[Doc]) -> str:
    lines = [f"- {login(c.get('user'))} at {where(c)}: {cut(c.get('body'))}"
             for c in comments[:COMMENTS_PER_ITEM]]
    if len(comments) > COMMENTS_PER_ITEM:
        lines.append(f"- and {len(comments) - COMMENTS_PER_ITEM} more comment(s)")
    return "\n".join(lines)


def review_text(review: Doc, pr_label: str) -> str:
    verb = ANNOUNCED_REVIEWS[str(review.get("state"))]
    body = cut(review.get("body"))
    return f"{login(review.get('user'))} {verb} {pr_label}" + (f":\n{body}" if body else ".")


def comments_text(comments: Sequence[Doc], pr_label: str) -> str:
    """Review comments submitted together (one review, or one lone comment)."""
    first = comments[0]
    who = login(first.get("user"))
    if len(comments) == 1:
        return f"{who} commented on {pr_label} at {where(first)}:\n{cut(first.get('body'))}"
    return f"{who} left {len(comments)} review comments on {pr_label}:\n{comment_lines(comments)}"


def conversation_text(comments: Sequence[Doc], pr_label: str) -> str:
    """Comments of the PR's conversation (not on the diff) that arrived in one poll."""
    if len(comments) == 1:
        first = comments[0]
        return f"{login(first.get('user'))} commented on {pr_label}:\n{cut(first.get('body'))}"
    lines = [f"- {login(c.get('user'))}: {cut(c.get('body'))}"
             for c in comments[:COMMENTS_PER_ITEM]]
    if len(comments) > COMMENTS_PER_ITEM:
        lines.append(f"- and {len(comments) - COMMENTS_PER_ITEM} more comment(s)")
    return f"{len(comments)} new comments on {pr_label}:\n" + "\n".join(lines)


def check_text(run: Doc, pr_label: str, sha: str) -> str:
    conclusion = str(run.get("conclusion") or "completed")
    return (f"Check “{cut(run.get('name'), TITLE_LIMIT)}” finished on {pr_label}: "
            f"{conclusion} (commit {sha[:7]}).")


def commits_text(pr_label: str, head: str, commits: object) -> str:
    total = f" ({commits} commits in all)" if isinstance(commits, int) else ""
    return f"New commits on {pr_label}: the head is now {head[:7]}{total}."


def merged_text(pr_label: str, merged_by: object) -> str:
    by = login(merged_by) if merged_by else None
    return f"{pr_label} was merged" + (f" by {by}." if by else ".")


def closed_text(pr_label: str) -> str:
    return f"{pr_label} was closed without being merged."


def to_items(events: Sequence[PREvent], *, repo: str, number: int, ref: str,
             now: str) -> list[InboundItem]:
    """The queue's items for `events`: outside text (external), each one waking the loop."""
    items: list[InboundItem] = []
    for event in events:
        text = event.text
        if event.comments:
            text = f"{text}\n{comment_lines(event.comments)}"
        items.append(InboundItem(
            kind="pr", text=f"{text}\n{event.url}", priority="next",
            source=f"github:{ref}", created_at=now, external=True, wakes=True,
            meta={"repo": repo, "number": number, "event": event.event, "url": event.url}))
    return items
