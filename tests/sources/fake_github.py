"""A scriptable fake of the GitHub REST API, served over real HTTP on loopback.

Why this exists: PR subscriptions are all about HTTP details (ETags and 304s, rate-limit headers,
pagination, 404s for what a client may not see), so tests point the real aiohttp client at this
server instead of mocking it. It runs on aiohttp.web inside the test's own event loop, on
127.0.0.1 and a random port, under an API prefix like GitHub Enterprise's ("/api/v3").

Answers have GitHub's shapes (pulls, reviews, review comments, conversation comments from the
issue-comments endpoint, check runs with html_url, user.login, submitted_at, head.sha, merged,
conclusion...) and its rules:
- every 200 carries an ETag (a weak hash of the body); a request whose If-None-Match matches it
  gets 304 with no body, which costs nothing against an authenticated client's limit;
- X-RateLimit-Limit/-Remaining/-Used/-Reset/-Resource on every answer: 5,000 requests an hour
  with a token, 60 without; a spent limit answers 403 with Remaining 0 and the reset time;
- a private repository's PR is a 404 without a token; no User-Agent is a 403;
- a renamed repository (`rename_repo`) answers its old name with 301 Moved Permanently to
  /repositories/ID/..., as GitHub does, and is served there and under its new name.
Time comes from the test's Clock, so a FakeClock decides when a rate limit resets.

Typical use::

    fake = FakeGitHub(clock); await fake.start()
    pr = fake.add_pr("octo/app", 7)
    pr.add_review("alice", "APPROVED", "LGTM")
    fake.force_rate_limit(reset_in=600)
    assert fake.count(status=304) == 4
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from aiohttp import web

from kairos_desktop.clock import Clock

WEB_URL = "https://github.com"
DOCS = "https://docs.github.com/rest"
AUTHENTICATED_LIMIT = 5_000
ANONYMOUS_LIMIT = 60
WINDOW_S = 3_600


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the API prefix, e.g. /repos/octo/app/pulls/7
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0  # filled in once answered


@dataclass
class _Budget:
    limit: int
    reset: int  # epoch seconds
    used: int = 0


def _user(login: str, user_id: int) -> dict[str, Any]:
    return {"login": login, "id": user_id, "node_id": f"U_{user_id}", "type": "User",
            "site_admin": False, "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}",
            "html_url": f"{WEB_URL}/{login}", "url": f"https://api.github.com/users/{login}"}


@dataclass
class FakePR:
    """One pull request and everything hanging off it; change it with the methods below."""

    server: FakeGitHub
    repo: str
    number: int
    title: str
    author: str
    private: bool = False
    state: str = "open"
    merged: bool = False
    merged_by: str | None = None
    merged_at: str | None = None
    closed_at: str | None = None
    head_sha: str = ""
    commits: int = 1
    created_at: str = ""
    updated_at: str = ""  # moves with every change, as on GitHub (and so does the ETag)
    id: int = 0
    reviews: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    issue_comments: list[dict[str, Any]] = field(default_factory=list)
    check_runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def html_url(self) -> str:
        return f"{WEB_URL}/{self.repo}/pull/{self.number}"

    @property
    def api_url(self) -> str:
        return f"https://api.github.com/repos/{self.repo}/pulls/{self.number}"

    # -- scripting -------------------------------------------------------------------------

    def add_review(self, user: str, state: str = "APPROVED", body: str = "",
                   comments: list[tuple[str, int, str]] | None = None) -> dict[str, Any]:
        """A submitted review (state APPROVED, CHANGES_REQUESTED, COMMENTED, or PENDING), with
        optional review comments (path, line, body) submitted with it."""
        review_id = self.server.next_id()
        review = {
            "id": review_id, "node_id": f"PRR_{review_id}", "user": self.server.user(user),
            "body": body, "state": state,
            "html_url": f"{self.html_url}#pullrequestreview-{review_id}",
            "pull_request_url": self.api_url, "author_association": "CONTRIBUTOR",
            "_links": {"html": {"href": f"{self.html_url}#pullrequestreview-{review_id}"},
                       "pull_request": {"href": self.api_url}},
            "commit_id": self.head_sha,
        }
        if state != "PENDING":
            review["submitted_at"] = self.server.timestamp()
        self.reviews.append(review)
        self.touch()
        for path, line, text in comments or []:
            self._comment(user, text, path, line, review_id)
        return review

    def submit_review(self, review_id: int, state: str = "APPROVED") -> None:
        """A PENDING review submitted (same id, as on GitHub)."""
        for review in self.reviews:
            if review["id"] == review_id:
                review["state"] = state
                review["submitted_at"] = self.server.timestamp()
        self.touch()

    def add_review_comment(self, user: str, body: str, path: str = "src/app.py",
                           line: int = 10) -> dict[str, Any]:
        """A single comment on the diff: GitHub makes a COMMENTED review with no body for it."""
        review = self.add_review(user, "COMMENTED", "")
        return self._comment(user, body, path, line, review["id"])

    def _comment(self, user: str, body: str, path: str, line: int,
                 review_id: int) -> dict[str, Any]:
        comment_id = self.server.next_id()
        now = self.server.timestamp()
        comment = {
            "id": comment_id, "node_id": f"PRRC_{comment_id}", "pull_request_review_id": review_id,
            "diff_hunk": "@@ -1,3 +1,4 @@\n def main():\n+    run()", "path": path,
            "position": line, "original_position": line, "commit_id": self.head_sha,
            "original_commit_id": self.head_sha, "user": self.server.user(user), "body": body,
            "created_at": now, "updated_at": now,
            "html_url": f"{self.html_url}#discussion_r{comment_id}",
            "pull_request_url": self.api_url, "author_association": "CONTRIBUTOR",
            "start_line": None, "original_start_line": None, "start_side": None,
            "line": line, "original_line": line, "side": "RIGHT", "subject_type": "line",
            "url": f"https://api.github.com/repos/{self.repo}/pulls/comments/{comment_id}",
        }
        self.comments.append(comment)
        self.touch()
        return comment

    def add_issue_comment(self, user: str, body: str) -> dict[str, Any]:
        """A comment in the PR's conversation (not on the diff): the issue-comments endpoint."""
        comment_id = self.server.next_id()
        now = self.server.timestamp()
        comment = {
            "id": comment_id, "node_id": f"IC_{comment_id}",
            "url": f"https://api.github.com/repos/{self.repo}/issues/comments/{comment_id}",
            "html_url": f"{self.html_url}#issuecomment-{comment_id}",
            "issue_url": f"https://api.github.com/repos/{self.repo}/issues/{self.number}",
            "user": self.server.user(user), "body": body, "created_at": now, "updated_at": now,
            "author_association": "CONTRIBUTOR",
        }
        self.issue_comments.append(comment)
        self.touch()
        return comment

    def delete_comment(self, comment_id: int) -> None:
        self.comments = [c for c in self.comments if c["id"] != comment_id]
        self.touch()

    def push_commit(self, sha: str | None = None) -> str:
        self.head_sha = sha or self.server.sha()
        self.commits += 1
        self.touch()
        return self.head_sha

    def add_check_run(self, name: str, *, status: str = "in_progress",
                      conclusion: str | None = None) -> dict[str, Any]:
        """A check run on the current head (status queued, in_progress or completed)."""
        run_id = self.server.next_id()
        run = {
            "id": run_id, "head_sha": self.head_sha, "node_id": f"CR_{run_id}",
            "external_id": "", "url": f"https://api.github.com/repos/{self.repo}/check-runs/"
                                      f"{run_id}",
            "html_url": f"{WEB_URL}/{self.repo}/runs/{run_id}",
            "details_url": f"{WEB_URL}/{self.repo}/actions/runs/{run_id}/job/{run_id}",
            "status": status, "conclusion": None, "started_at": self.server.timestamp(),
            "completed_at": None, "name": name,
            "output": {"title": None, "summary": None, "text": None, "annotations_count": 0,
                       "annotations_url": f"https://api.github.com/repos/{self.repo}/check-runs/"
                                          f"{run_id}/annotations"},
            "check_suite": {"id": run_id + 1},
            "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
            "pull_requests": [{"number": self.number, "id": self.id,
                               "head": {"ref": "feature", "sha": self.head_sha},
                               "base": {"ref": "main", "sha": "0" * 40}}],
        }
        self.check_runs.append(run)
        if status == "completed":
            self.complete_check_run(run_id, conclusion or "success")
        return run

    def complete_check_run(self, run: int | str, conclusion: str = "success") -> dict[str, Any]:
        """Finish the check run with this id (or the latest one with this name)."""
        for candidate in reversed(self.check_runs):
            if run in (candidate["id"], candidate["name"]):
                candidate.update(status="completed", conclusion=conclusion,
                                 completed_at=self.server.timestamp())
                return candidate
        raise KeyError(f"no check run {run!r} on {self.repo}#{self.number}")

    def merge(self, by: str = "maintainer") -> None:
        now = self.server.timestamp()
        self.state, self.merged, self.merged_by = "closed", True, by
        self.merged_at = self.closed_at = now
        self.touch()

    def close(self) -> None:
        self.state, self.closed_at = "closed", self.server.timestamp()
        self.touch()

    def reopen(self) -> None:
        self.state, self.closed_at = "open", None
        self.touch()

    def touch(self) -> None:
        self.updated_at = self.server.timestamp()

    # -- GitHub's shape ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        owner, name = self.repo.split("/")
        repo = {"id": self.id + 1, "name": name, "full_name": self.repo, "private": self.private,
                "owner": self.server.user(owner), "html_url": f"{WEB_URL}/{self.repo}"}
        return {
            "url": self.api_url, "id": self.id, "node_id": f"PR_{self.id}",
            "html_url": self.html_url, "diff_url": f"{self.html_url}.diff",
            "number": self.number, "state": self.state, "locked": False, "title": self.title,
            "user": self.server.user(self.author), "body": "Please review.",
            "created_at": self.created_at, "updated_at": self.updated_at,
            "closed_at": self.closed_at, "merged_at": self.merged_at,
            "merge_commit_sha": self.head_sha if self.merged else None,
            "draft": False,
            "head": {"label": f"{owner}:feature", "ref": "feature", "sha": self.head_sha,
                     "user": self.server.user(owner), "repo": repo},
            "base": {"label": f"{owner}:main", "ref": "main", "sha": "0" * 40,
                     "user": self.server.user(owner), "repo": repo},
            "merged": self.merged, "mergeable": None if self.merged else True,
            "merged_by": self.server.user(self.merged_by) if self.merged_by else None,
            "comments": 0, "review_comments": len(self.comments), "commits": self.commits,
            "additions": 12, "deletions": 3, "changed_files": 2,
        }

    def latest_check_runs(self, sha: str) -> list[dict[str, Any]]:
        """What `filter=latest` (the default) returns: the newest run of each name."""
        latest: dict[str, dict[str, Any]] = {}
        for run in self.check_runs:
            if run["head_sha"] == sha:
                latest[run["name"]] = run
        return sorted(latest.values(), key=lambda r: r["id"])


class FakeGitHub:
    def __init__(self, clock: Clock, *, prefix: str = "/api/v3",
                 tokens: set[str] | None = None) -> None:
        """`tokens`: the tokens GitHub accepts (None: any); others get 401 Bad credentials."""
        self.clock = clock
        self.prefix = prefix.rstrip("/")
        self.tokens = tokens
        self.prs: dict[tuple[str, int], FakePR] = {}
        self.requests: list[RecordedRequest] = []
        self.blocked_until: int | None = None  # a forced rate limit (epoch seconds)
        self.retry_after: float | None = None  # with it: a secondary limit with Retry-After
        self.failures: list[int] = []  # statuses to answer next, one per request
        self._budgets: dict[str, _Budget] = {}
        self._ids = itertools.count(1_870_000_001)
        self._user_ids: dict[str, int] = {}
        self._shas = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.renamed: dict[str, str] = {}  # old name (lower case) -> the name now
        self._repo_ids: dict[str, int] = {}  # name (lower case) -> repository id

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        for base in (self.prefix + "/repos/{owner}/{name}",
                     self.prefix + r"/repositories/{repo_id:\d+}"):
            app.router.add_get(base + r"/pulls/{number:\d+}", self._pull)
            app.router.add_get(base + r"/pulls/{number:\d+}/reviews", self._reviews)
            app.router.add_get(base + r"/pulls/{number:\d+}/comments", self._comments)
            app.router.add_get(base + r"/issues/{number:\d+}/comments", self._issue_comments)
            app.router.add_get(base + "/commits/{ref}/check-runs", self._check_runs)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- scripting -------------------------------------------------------------------------

    def add_pr(self, repo: str, number: int, *, title: str = "Add the frobnicator",
               author: str = "octocat", private: bool = False) -> FakePR:
        pr = FakePR(self, repo, number, title, author, private=private, head_sha=self.sha(),
                    created_at=self.timestamp(), updated_at=self.timestamp(), id=self.next_id())
        self.prs[(repo.lower(), number)] = pr
        return pr

    def rename_repo(self, old: str, new: str) -> None:
        """The repository `old` is now `new`: its PRs move, the old name answers 301."""
        for (name, number), pr in list(self.prs.items()):
            if name == old.lower():
                del self.prs[(name, number)]
                pr.repo = new
                self.prs[(new.lower(), number)] = pr
                pr.touch()
        self._repo_ids[new.lower()] = self.repo_id(old)
        self.renamed[old.lower()] = new

    def repo_id(self, repo: str) -> int:
        return self._repo_ids.setdefault(repo.lower(), 1_296_269 + len(self._repo_ids))

    def force_rate_limit(self, reset_in: float) -> int:
        """Spend the limit: every request gets 403 (Remaining 0) until the clock reaches the
        reset, `reset_in` seconds from now. Returns the reset as epoch seconds."""
        self.blocked_until = int(self.clock.now().timestamp() + reset_in)
        self.retry_after = None
        return self.blocked_until

    def force_secondary_limit(self, retry_after: float) -> None:
        """A secondary rate limit: 403 with Retry-After (Remaining is not 0)."""
        self.blocked_until = int(self.clock.now().timestamp() + retry_after)
        self.retry_after = retry_after

    def spend(self, token: str | None, leave: int = 0) -> None:
        """Use up this window's requests of `token` (None: anonymous) but `leave`."""
        budget = self._budget(token)
        budget.used = budget.limit - leave

    def fail_next(self, status: int, times: int = 1) -> None:
        self.failures += [status] * times

    # -- counters ----------------------------------------------------------------------------

    def count(self, *, status: int | None = None, endswith: str | None = None) -> int:
        return sum(1 for r in self.requests
                   if (status is None or r.status == status)
                   and (endswith is None or r.path.endswith(endswith)))

    @property
    def not_modified(self) -> int:
        return self.count(status=304)

    def remaining(self, token: str | None) -> int:
        budget = self._budget(token)
        return budget.limit - budget.used

    # -- helpers used by FakePR --------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def sha(self) -> str:
        return hashlib.sha1(f"commit {next(self._shas)}".encode()).hexdigest()

    def user(self, login: str) -> dict[str, Any]:
        user_id = self._user_ids.setdefault(login, 583_231 + len(self._user_ids))
        return _user(login, user_id)

    def timestamp(self) -> str:
        return self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- serving -----------------------------------------------------------------------------

    def _epoch(self) -> int:
        return int(self.clock.now().timestamp())

    def _budget(self, token: str | None) -> _Budget:
        key = token or "anonymous"
        budget = self._budgets.get(key)
        now = self._epoch()
        if budget is None or now >= budget.reset:  # a new window
            limit = AUTHENTICATED_LIMIT if token else ANONYMOUS_LIMIT
            budget = self._budgets[key] = _Budget(limit, now + WINDOW_S)
        return budget

    def _limit_headers(self, budget: _Budget, *, spent: bool = False,
                       reset: int | None = None) -> dict[str, str]:
        remaining = 0 if spent else budget.limit - budget.used
        return {"X-RateLimit-Limit": str(budget.limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Used": str(budget.limit - remaining),
                "X-RateLimit-Reset": str(reset if reset is not None else budget.reset),
                "X-RateLimit-Resource": "core"}

    async def _serve(self, request: web.Request,
                     build: Callable[[FakePR], tuple[Any, str | None]]) -> web.StreamResponse:
        """Common rules, then `build(pr)` -> (JSON data, Link header or None)."""
        recorded = RecordedRequest(request.method, request.path[len(self.prefix):],
                                   dict(request.query), dict(request.headers))
        self.requests.append(recorded)
        response = self._answer(request, build)
        recorded.status = response.status
        return response

    def _answer(self, request: web.Request,
                build: Callable[[FakePR], tuple[Any, str | None]]) -> web.Response:
        if not request.headers.get("User-Agent"):
            return _error(403, "Request forbidden by administrative rules. Please make sure "
                          "your request has a User-Agent header")
        token = None
        auth = request.headers.get("Authorization", "")
        if auth:
            token = auth.removeprefix("Bearer ").removeprefix("token ").strip()
            if self.tokens is not None and token not in self.tokens:
                return _error(401, "Bad credentials")
        budget = self._budget(token)
        if self.failures:
            return _error(self.failures.pop(0), "Server Error")
        if self.blocked_until is not None and self._epoch() < self.blocked_until:
            if self.retry_after is not None:
                headers = self._limit_headers(budget)
                headers["Retry-After"] = str(int(self.retry_after))
                return _error(403, "You have exceeded a secondary rate limit. Please wait a few "
                              "minutes before you try again.", headers)
            return _error(403, "API rate limit exceeded for 127.0.0.1. (But here's the good "
                          "news: Authenticated requests get a higher rate limit.)",
                          self._limit_headers(budget, spent=True, reset=self.blocked_until))
        if self.blocked_until is not None:
            self.blocked_until = self.retry_after = None  # the forced limit has reset
        if budget.used >= budget.limit:
            return _error(403, "API rate limit exceeded", self._limit_headers(budget))
        repo = self._repo_of(request)
        if repo is None:
            budget.used += 1
            return _error(404, "Not Found", self._limit_headers(budget))
        moved = self.renamed.get(repo.lower())
        if moved is not None and "repo_id" not in request.match_info:
            # GitHub: the old name of a renamed repository redirects to its id.
            rest = request.path.split(f"/repos/{request.match_info['owner']}/"
                                      f"{request.match_info['name']}", 1)[1]
            location = f"{self.base_url}/repositories/{self.repo_id(moved)}{rest}"
            if request.query_string:
                location += f"?{request.query_string}"
            budget.used += 1
            headers = {"Location": location, **self._limit_headers(budget)}
            return _error(301, "Moved Permanently", headers)
        pr = self.prs.get((repo.lower(), int(request.match_info.get("number", "0") or 0)))
        if "ref" in request.match_info:
            pr = self._pr_with_commit(repo, request.match_info["ref"])
        if pr is None or (pr.private and token is None):
            budget.used += 1
            return _error(404, "Not Found", self._limit_headers(budget))
        data, link = build(pr)
        body = json.dumps(data)
        etag = 'W/"' + hashlib.sha256(f"{token}\n{body}".encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60",
                   "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
                   "X-GitHub-Api-Version-Selected": "2022-11-28"}
        if link:
            headers["Link"] = link
        if request.headers.get("If-None-Match") == etag:
            # GitHub: a 304 is free only for a correctly authorised request.
            if token is None:
                budget.used += 1
            headers.update(self._limit_headers(budget))
            return web.Response(status=304, headers=headers)
        budget.used += 1
        headers.update(self._limit_headers(budget))
        return web.Response(status=200, body=body.encode(), headers=headers,
                            content_type="application/json", charset="utf-8")

    def _repo_of(self, request: web.Request) -> str | None:
        """The repository a request names: owner/name, or the id it was redirected to."""
        if "repo_id" in request.match_info:
            wanted = int(request.match_info["repo_id"])
            return next((name for name, rid in self._repo_ids.items() if rid == wanted
                         and name not in self.renamed), None)
        return f"{request.match_info['owner']}/{request.match_info['name']}"

    def _pr_with_commit(self, repo: str, ref: str) -> FakePR | None:
        repo = repo.lower()
        for (name, _), pr in self.prs.items():
            if name == repo and (pr.head_sha == ref
                                 or any(r["head_sha"] == ref for r in pr.check_runs)):
                return pr
        return None

    def _page(self, request: web.Request, rows: list[Any]) -> tuple[list[Any], str | None]:
        per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
        page = max(1, int(request.query.get("page", "1")))
        last = max(1, -(-len(rows) // per_page))
        chosen = rows[(page - 1) * per_page: page * per_page]
        url = f"{self.base_url}{request.path[len(self.prefix):]}"
        links = []
        if page < last:
            links.append(f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{url}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{url}?per_page={per_page}&page=1>; rel="first"')
            links.append(f'<{url}?per_page={per_page}&page={page - 1}>; rel="prev"')
        return chosen, ", ".join(links) or None

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda pr: (pr.to_json(), None))

    async def _reviews(self, request: web.Request) -> web.StreamResponse:
        # Pending reviews are visible to their author only; this fake's token is nobody's.
        return await self._serve(request, lambda pr: self._page(
            request, [r for r in pr.reviews if r["state"] != "PENDING"]))

    async def _comments(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda pr: self._page(request, pr.comments))

    async def _issue_comments(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda pr: self._page(request, pr.issue_comments))

    async def _check_runs(self, request: web.Request) -> web.StreamResponse:
        def build(pr: FakePR) -> tuple[Any, str | None]:
            runs = pr.latest_check_runs(request.match_info["ref"])
            chosen, link = self._page(request, runs)
            return {"total_count": len(runs), "check_runs": chosen}, link
        return await self._serve(request, build)

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.query),
                                             dict(request.headers), 404))
        return _error(404, "Not Found")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers or {},
                        content_type="application/json", charset="utf-8")
