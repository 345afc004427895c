"""One poll of one PR: which requests, in which order, with which ETag and page cursor.

Why this shape: an unchanged PR must cost only 304s. So the PR, its reviews, its review comments,
its conversation comments (the issue-comments endpoint: a PR is an issue too) and the check runs
of its head are each asked with the ETag of their last answer, and of a list only the cursor page
(the first one not full) is asked for: the lists grow at the end, so the pages before it cannot
have changed. What each answer means is decided in diff.py.

A renamed repository answers its old name with 301 (to /repositories/ID/...): the PR's answer
names the repository as it is now, and the subscription takes that name at once, so the next
requests (of this poll and every later one) go straight to it.
"""

from __future__ import annotations

from typing import Any

from .client import GitHubClient, GitHubRequestError
from .diff import (
    Poll,
    checks_head,
    take_check_runs,
    take_comments,
    take_issue_comments,
    take_pull,
    take_reviews,
)

PER_PAGE = 100  # GitHub's maximum page size: the fewest requests per list
MAX_PAGES_PER_POLL = 20  # bounds one poll of one list (2,000 new items)


async def poll_pr(client: GitHubClient, work: Poll) -> None:
    """Ask every endpoint of `work`'s PR; raises GitHubError at the first that fails (what the
    endpoints before it found stays in `work`: their ETags and ids go together)."""
    await poll_pull(client, work)
    await poll_list(client, work, "reviews")
    await poll_list(client, work, "comments")
    await poll_list(client, work, "issue_comments")
    await poll_checks(client, work)


async def poll_pull(client: GitHubClient, work: Poll) -> None:
    path = f"/repos/{work.doc['repo']}/pulls/{work.doc['number']}"
    not_found = (f"PR {work.ref} not found or not visible "
                 + ("to this token" if client.token else "without a token"))
    answer = await client.get(path, etag=work.etags.get("pull"), not_found=not_found)
    if answer.status == 304 and answer.moved:
        # Moved, and unchanged: the 304 has no body to say the new name; ask once in full.
        answer = await client.get(path, etag=None, not_found=not_found)
    if answer.status == 304:
        return
    take_pull(work, answer.data, answer.etag)


def list_path(work: Poll, name: str) -> str:
    number = work.doc["number"]
    if name == "issue_comments":
        return f"/repos/{work.doc['repo']}/issues/{number}/comments"
    return f"/repos/{work.doc['repo']}/pulls/{number}/{name}"


async def poll_list(client: GitHubClient, work: Poll, name: str) -> None:
    """Reviews, review comments or conversation comments: the cursor page with its ETag; a full
    page moves the cursor on, an empty one (items were deleted) moves it back."""
    path = list_path(work, name)
    page = int(work.doc["pages"].get(name, 1))
    etag = work.etags.get(name)
    cursor = (page, etag)
    came_from: str | None = None  # "below" after a full page, "above" after an empty one
    for _ in range(MAX_PAGES_PER_POLL):
        answer = await client.get(path, etag=etag, params={"per_page": PER_PAGE, "page": page},
                                  not_found=f"PR {work.ref} not found")
        if answer.status == 304:
            break
        if not isinstance(answer.data, list):
            raise GitHubRequestError(f"GitHub's answer for {path} is not a list")
        rows = [r for r in answer.data if isinstance(r, dict) and isinstance(r.get("id"), int)]
        if name == "reviews":
            take_reviews(work, rows)
        elif name == "issue_comments":
            take_issue_comments(work, rows)
        else:
            take_comments(work, rows)
        if len(answer.data) >= PER_PAGE:
            if came_from == "above":
                break  # the empty page above this full one is the right cursor (kept)
            cursor, came_from = (page + 1, None), "below"
            page, etag = page + 1, None
            continue
        if not answer.data and page > 1 and came_from is None:
            cursor, came_from = (page, answer.etag), "above"
            page, etag = page - 1, None
            continue
        cursor = (page, answer.etag)
        break
    work.doc["pages"][name] = cursor[0]
    if cursor[1]:
        work.etags[name] = cursor[1]
    else:
        work.etags.pop(name, None)
    work.record(name)


async def poll_checks(client: GitHubClient, work: Poll) -> None:
    sha = checks_head(work)
    if sha is None:
        return  # the PR itself was never read: nothing to ask about yet
    path = f"/repos/{work.doc['repo']}/commits/{sha}/check-runs"
    # The ETag covers page 1 only: with more runs than one page holds, ask for every page.
    etag = work.etags.get("checks") if work.seen["checksTotal"] <= PER_PAGE else None
    runs: list[dict[str, Any]] = []
    total = 0
    first_etag: str | None = None
    for page in range(1, MAX_PAGES_PER_POLL + 1):
        answer = await client.get(path, etag=etag if page == 1 else None,
                                  params={"per_page": PER_PAGE, "page": page},
                                  not_found=f"check runs of {work.ref} at {sha[:7]} not found")
        if answer.status == 304:
            return
        data = answer.data
        if not isinstance(data, dict) or not isinstance(data.get("check_runs"), list):
            raise GitHubRequestError(f"GitHub's answer for {path} holds no check_runs")
        if page == 1:
            first_etag = answer.etag
        total = int(data.get("total_count") or 0)
        runs += [r for r in data["check_runs"]
                 if isinstance(r, dict) and isinstance(r.get("id"), int)]
        if len(data["check_runs"]) < PER_PAGE or len(runs) >= total:
            break
    take_check_runs(work, sha, runs, total, first_etag)
