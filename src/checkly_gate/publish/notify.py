"""``--notify URL`` (repeatable): POST the verdict as JSON to a webhook.

The body carries the facts a bot needs (``outcome``, ``exitCode``, ``reason``, ``counts``,
``failedChecks`` with their error text and labels (``history``: the history label),
``setAside`` (the quarantined and known failures, with mark, owner, reason, expiry, label),
``sessions`` with their links,
``ciRunLink``) and a ``text`` field with the headline and the failed checks, which Slack and
Microsoft Teams incoming webhooks render as the message. ``--notify-on``: ``failures`` (the
default: only when the gate exits non-zero), ``always``, ``never``.

A webhook URL is a secret (its path is the credential): it is registered for masking, never
logged (a failure names ``webhook N`` and its host) and never put in the body; the body is
scrubbed of every secret the process knows before it is sent. Each URL gets one POST (retried
only when it cannot have been delivered: a rate limit or a connection that never carried it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from checkly_gate import ci, redact
from checkly_gate.ci.base import failure_messages, set_aside_messages
from checkly_gate.publish import NOTIFY_ON, report
from checkly_gate.publish.http import Http, PublishError
from checkly_gate.redact import url_secrets as url_secrets
from checkly_gate.reports import GateRun, session_link
from checkly_gate.scope import Scope
from checkly_gate.text import one_line

FAILED_LIMIT = 20  # failed checks listed in the body
TEXT_FAILED_LIMIT = 10  # in ``text``
ERROR_LIMIT = 1_000  # characters of one error text


def ci_run_link(env: Mapping[str, str]) -> str | None:
    """The CI run's web link: the system's ``buildUrl`` (``ci.base.System.metadata``), else GitHub
    Actions' run URL, else GitLab's ``CI_JOB_URL``/``CI_PIPELINE_URL``."""
    from checkly_gate.ci.base import safe_url

    system = ci.system(env)
    meta = system.metadata(env) if system is not None else {}
    if meta.get("buildUrl"):
        return meta["buildUrl"]
    server, repo, run_id = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run_id:
        return safe_url(f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}")
    return safe_url(env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"))


def payload(
    run: GateRun, env: Mapping[str, str], secrets: redact.Secrets | None = None
) -> dict[str, Any]:
    """The JSON body (see the module doc); every string masked of known secrets."""
    verdict = run.verdict
    failed: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for sv in verdict.sessions:
        link = session_link(run, sv)
        name = sv.session.display_name if sv.session else sv.session_id
        sessions.append(
            {"id": sv.session_id, "name": one_line(name), "outcome": sv.outcome.label, "link": link}
        )
        for r in sv.failing:
            error = next(
                (run.error_messages[g] for g in r.error_group_ids if g in run.error_messages), ""
            )
            labels = {"category": r.category.value, "checkType": r.latest.check_type.lower()}
            if r.latest.run_location:
                labels["location"] = one_line(r.latest.run_location, 100)
            if (label := run.label(sv, r)) is not None:
                labels["history"] = label.label
            failed.append(
                {
                    "name": one_line(r.name),
                    "session": one_line(name),
                    "error": one_line(error, ERROR_LIMIT) if error else None,
                    "labels": labels,
                    "link": one_line(r.latest.link, 2000) if r.latest.link else None,
                }
            )
    aside = _set_aside(run)
    ci_link = ci_run_link(env)
    head = (
        f"{verdict.outcome.emoji} checkly-gate {verdict.outcome.label} (exit {verdict.exit_code})"
    )
    lines = [f"{head}: {one_line(verdict.reason, 500)}"]
    lines += [f"• {line}" for line in failure_messages(run, TEXT_FAILED_LIMIT) if failed]
    lines += [f"◦ {line}" for line in set_aside_messages(run, TEXT_FAILED_LIMIT)]
    lines += [s["link"] for s in sessions if s["link"]]
    if ci_link:
        lines.append(f"CI run: {ci_link}")
    body = {
        "text": "\n".join(lines),
        "outcome": verdict.outcome.label,
        "exitCode": verdict.exit_code,
        "reason": one_line(verdict.reason, 1000),
        "counts": verdict.counts.as_dict(),
        "failedChecks": failed[:FAILED_LIMIT],
        "failedChecksLeftOut": max(0, len(failed) - FAILED_LIMIT),
        "setAside": aside[:FAILED_LIMIT],
        "setAsideLeftOut": max(0, len(aside) - FAILED_LIMIT),
        "sessions": sessions,
        "ciRunLink": ci_link,
    }
    scrubbed: dict[str, Any] = (secrets or redact.Secrets()).scrub(body)
    return scrubbed


def _set_aside(run: GateRun) -> list[dict[str, Any]]:
    """The runs the context set aside (``verdict.SetAside``): name, session, ``mark``
    (``quarantined``/``known``), ``text`` (owner, expiry and reason, or the label), the
    quarantine entry's ``owner``/``reason``/``expires`` and the history ``label``, link."""
    found: list[dict[str, Any]] = []
    for sv in run.verdict.sessions:
        name = sv.session.display_name if sv.session else sv.session_id
        for r, aside in sv.aside_runs:
            label = run.label(sv, r)
            item: dict[str, Any] = {
                "name": one_line(r.name),
                "session": one_line(name),
                "mark": aside.mark.value,
                "text": one_line(aside.says(), 500),
                "history": label.label if label is not None else None,
                "link": one_line(r.latest.link, 2000) if r.latest.link else None,
            }
            for key in ("owner", "reason", "expires"):
                if key in aside.quarantine:
                    item[key] = one_line(str(aside.quarantine[key]), 300)
            found.append(item)
    return found


class Notifier:
    """POSTs ``payload`` to each URL when ``on`` says so. Never raises."""

    name = "notify"

    def __init__(
        self,
        urls: Iterable[str],
        scope: Scope,
        *,
        on: str = "failures",
        env: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: redact.Secrets | None = None,
    ) -> None:
        #: the command's secrets (``context.Command.secrets``); the token joins them here
        self.secrets = secrets if secrets is not None else redact.Secrets()
        if on not in NOTIFY_ON:
            raise ValueError(f"--notify-on must be one of {', '.join(NOTIFY_ON)}")
        self.urls = [u.strip() for u in urls if u and u.strip()]
        for url in self.urls:  # a secret from the moment it is known
            self.secrets.add(url_secrets(url))
        self.scope = scope
        self.on = on
        self.env = env if env is not None else {}
        self.transport = transport
        self._said: set[str] = set()

    def under(self, scope: Scope) -> Notifier:
        import copy

        view = copy.copy(self)
        view.scope = scope
        return view

    def start(self, link: str | None) -> None:
        """Nothing is sent when following starts."""

    def close(self) -> None:
        """Nothing to close: each delivery closes its own connection."""

    def wanted(self, run: GateRun) -> bool:
        return self.on == "always" or (self.on == "failures" and run.verdict.exit_code != 0)

    def finish(self, run: GateRun, summary_markdown: str) -> None:
        if not self.urls or not self.wanted(run):
            return
        body = payload(run, self.env, self.secrets)
        for number, url in enumerate(self.urls, 1):
            try:
                split = urlsplit(url)
                host = split.hostname or "?"
            except ValueError:
                split, host = None, "?"
            what = f"the notification to webhook {number} ({host})"
            if split is None or split.scheme not in ("http", "https") or not split.hostname:
                report(what, "not an http(s) URL", self._said, self.secrets)
                continue
            try:
                http = Http(
                    url,
                    self.scope,
                    secrets=self.secrets,
                    tokens=url_secrets(url),
                    env=self.env,
                    transport=self.transport,
                    what=f"webhook {number} ({host})",
                )
            except PublishError as exc:
                report(what, str(exc), self._said, self.secrets)
                continue
            try:
                http.request(
                    "POST",
                    url,
                    json_body=body,
                    idempotent=False,
                    hints={404: "check the webhook URL", 403: "the webhook refused the request"},
                )
            except PublishError as exc:
                report(what, str(exc), self._said, self.secrets)
            finally:
                http.close()
