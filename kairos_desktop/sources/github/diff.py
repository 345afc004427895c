"""Turning GitHub's answers into what is new on a PR: reviews, comments, checks, commits, states.

Why apart from the HTTP: deciding what counts as new is the part that must never announce an
event twice or announce a baseline, and it is pure (a stored document in, the document and the
events out), so it can be read and tested without a server.

Invariants:
- The first answer of each endpoint after subscribing is a baseline: recorded, never announced,
  so subscribing to a PR with 30 old reviews queues nothing.
- What was seen (review, comment and check-run ids, head sha, state) is remembered per list, the
  most recent SEEN_LIMIT ids only: older ones live on pages no longer fetched.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import render
from .client import GitHubError, GitHubRequestError, validate_target
from .render import ANNOUNCED_REVIEWS, PREvent

SEEN_LIMIT = 1_000  # ids remembered per list; older ones live on pages no longer fetched
ENDPOINTS = ("pull", "reviews", "comments", "issue_comments", "checks")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")

Doc = dict[str, Any]


def normalise(doc: Doc) -> Doc:
    """A deep copy of a stored subscription with every field present (older documents lack
    some)."""
    work = copy.deepcopy({k: v for k, v in doc.items() if k != "_id"})
    work.setdefault("etags", {})
    work.setdefault("pages", {})
    work.setdefault("state", None)
    work.setdefault("title", None)
    work.setdefault("url", None)
    work.setdefault("lastError", None)
    work.setdefault("lastChangeAt", None)
    seen = work.setdefault("lastSeen", {})
    seen.setdefault("endpoints", [])
    seen.setdefault("headSha", None)
    seen.setdefault("checksSha", None)
    seen.setdefault("checksTotal", 0)
    for name in ("reviews", "comments", "issue_comments", "checks"):
        seen.setdefault(name, [])
    return work


def remember(ids: list[int], new: list[int]) -> list[int]:
    """The seen-id list with `new` added, sorted, keeping the most recent SEEN_LIMIT."""
    return sorted(set(ids) | set(new))[-SEEN_LIMIT:]


@dataclass
class Poll:
    """One poll of one subscription: a working copy of its document and what it found."""

    doc: Doc
    events: list[PREvent] = field(default_factory=list)
    changed: bool = False  # something new was recorded (announced or not): poll sooner
    renamed_from: str | None = None  # the repository's old name, when GitHub gave a new one

    @property
    def seen(self) -> Doc:
        seen: Doc = self.doc["lastSeen"]
        return seen

    @property
    def etags(self) -> dict[str, str]:
        etags: dict[str, str] = self.doc["etags"]
        return etags

    def recorded(self, endpoint: str) -> bool:
        return endpoint in self.seen["endpoints"]

    def record(self, endpoint: str) -> None:
        """`endpoint`'s baseline is taken: from now on what is new on it is announced."""
        if not self.recorded(endpoint):
            self.seen["endpoints"].append(endpoint)
            self.changed = True

    @property
    def ref(self) -> str:
        return f"{self.doc['repo']}#{self.doc['number']}"

    @property
    def label(self) -> str:
        return render.label(self.ref, self.doc.get("title"))

    @property
    def url(self) -> str:
        return str(self.doc.get("url") or "")


def take_pull(work: Poll, pr: Any, etag: str | None) -> None:
    """The PR itself: new commits, merged, closed (reopened is recorded without an event)."""
    try:
        head = str(pr["head"]["sha"])
        state = "merged" if pr.get("merged") else str(pr["state"])
        url = str(pr["html_url"])
        title = str(pr.get("title") or "")
    except (KeyError, TypeError, AttributeError) as exc:
        raise GitHubRequestError(f"GitHub's answer for {work.ref} is not a pull request "
                                 f"(missing {exc})") from exc
    take_name(work, pr)
    seen = work.seen
    work.doc["title"], work.doc["url"] = title, url
    first = not work.recorded("pull")
    if not first:
        if head != seen["headSha"]:
            work.events.append(PREvent(
                "commits", render.commits_text(work.label, head, pr.get("commits")),
                f"{url}/commits/{head}"))
        if state != work.doc["state"] and state == "merged":
            work.events.append(PREvent(
                "merged", render.merged_text(work.label, pr.get("merged_by")), url))
        elif state != work.doc["state"] and state == "closed":
            work.events.append(PREvent("closed", render.closed_text(work.label), url))
        # closed -> open (reopened) is recorded without an item: nothing to act on yet.
    else:
        seen["endpoints"].append("pull")
    if first or head != seen["headSha"] or state != work.doc["state"]:
        work.changed = True
    seen["headSha"], work.doc["state"] = head, state
    work.etags["pull"] = etag or ""


def take_name(work: Poll, pr: Any) -> None:
    """The repository's name as GitHub gives it now (base.repo.full_name): a renamed or
    transferred repository's new name replaces the old one in the subscription."""
    base = pr.get("base") if isinstance(pr, dict) else None
    repo = base.get("repo") if isinstance(base, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    if not isinstance(name, str) or name.lower() == str(work.doc["repo"]).lower():
        return
    try:
        validate_target(name, int(work.doc["number"]))
    except GitHubError:
        return  # not a name GitHub gives: keep the one the user gave
    work.renamed_from = str(work.doc["repo"])
    work.doc["repo"] = name
    work.changed = True


def take_reviews(work: Poll, rows: Sequence[Doc]) -> None:
    seen = set(work.seen["reviews"])
    new: list[int] = []
    for review in rows:
        state = review.get("state")
        # A PENDING review is visible only to its author and not submitted yet: it is
        # announced (with the same id) once it is.
        if review["id"] in seen or state == "PENDING":
            continue
        new.append(review["id"])
        if not work.recorded("reviews") or state not in ANNOUNCED_REVIEWS:
            continue  # a baseline, or DISMISSED
        if state == "COMMENTED" and not render.cut(review.get("body")):
            continue  # only carries review comments: those are announced themselves
        work.events.append(PREvent("review", render.review_text(review, work.label),
                                   str(review.get("html_url") or work.url),
                                   review_id=review["id"]))
    if new:
        work.seen["reviews"] = remember(work.seen["reviews"], new)
        work.changed = True


def take_comments(work: Poll, rows: Sequence[Doc]) -> None:
    seen = set(work.seen["comments"])
    fresh = [c for c in rows if c["id"] not in seen]
    if not fresh:
        return
    work.seen["comments"] = remember(work.seen["comments"], [c["id"] for c in fresh])
    work.changed = True
    if not work.recorded("comments"):
        return
    # Comments submitted together (one review) make one event; those of a review announced
    # in this poll are folded into its item.
    reviews = {e.review_id: e for e in work.events if e.review_id is not None}
    groups: dict[object, list[Doc]] = {}
    for comment in fresh:
        group = comment.get("pull_request_review_id") or f"comment-{comment['id']}"
        groups.setdefault(group, []).append(comment)
    for group, comments in groups.items():
        if group in reviews:
            reviews[group].comments.extend(comments)
            continue
        url = str(comments[0].get("html_url") or work.url)
        work.events.append(PREvent("review_comment",
                                   render.comments_text(comments, work.label), url))


def take_issue_comments(work: Poll, rows: Sequence[Doc]) -> None:
    """Comments of the PR's conversation (the issue-comments endpoint): what is new makes ONE
    event per poll, naming each comment (at most COMMENTS_PER_ITEM of them)."""
    seen = set(work.seen["issue_comments"])
    fresh = [c for c in rows if c["id"] not in seen]
    if not fresh:
        return
    work.seen["issue_comments"] = remember(work.seen["issue_comments"], [c["id"] for c in fresh])
    work.changed = True
    if not work.recorded("issue_comments"):
        return  # the baseline
    url = str(fresh[-1].get("html_url") or work.url)
    work.events.append(PREvent("comment", render.conversation_text(fresh, work.label), url))


def checks_head(work: Poll) -> str | None:
    """The head sha whose check runs to ask for, None before the PR itself was read. A new head
    starts its check runs afresh: their ids were never seen, the old ETag does not apply."""
    sha = work.seen["headSha"]
    if not sha:
        return None
    if not _SHA.match(str(sha)):
        raise GitHubRequestError(f"GitHub gave {work.ref} a head sha that is not one: {sha!r}")
    if work.seen["checksSha"] != sha:
        work.etags.pop("checks", None)
        work.seen["checksSha"], work.seen["checksTotal"] = sha, 0
        work.changed = True
    return str(sha)


def take_check_runs(work: Poll, sha: str, runs: Sequence[Doc], total: int,
                    etag: str | None) -> None:
    """Check runs of `sha` that finished since the last poll (all of its pages, in `runs`)."""
    seen = work.seen
    known = set(seen["checks"])
    done = [r for r in runs if r.get("status") == "completed" and r["id"] not in known
            and r.get("head_sha", sha) == sha]
    if work.recorded("checks"):
        for run in done:
            work.events.append(PREvent(
                "check_run", render.check_text(run, work.label, sha),
                str(run.get("html_url") or run.get("details_url") or work.doc.get("url"))))
    else:
        seen["endpoints"].append("checks")
        work.changed = True
    if done:
        seen["checks"] = remember(seen["checks"], [r["id"] for r in done])
        work.changed = True
    seen["checksTotal"] = total
    if etag:
        work.etags["checks"] = etag
