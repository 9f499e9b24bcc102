"""The end of every command: write the requested reports, print the verdict, publish to the CI.

``finish`` is the one path every outcome takes (a verdict after waiting, a command that ended
before it, ``report``'s re-rendering, a usage error): reports are written first, then the
verdict lines, then the CI's annotations and outputs. ``deferred_signal`` turns a signal that
arrived meanwhile into the exit code without cutting a report short; ``configuration_problem``
makes a TLS or proxy problem met before any answer the same exit 2 in every command.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from checkly_gate import contextual
from checkly_gate.api import Client
from checkly_gate.ci.base import Integration
from checkly_gate.config import Options
from checkly_gate.files import write_atomic, write_pieces
from checkly_gate.progress import render_explanations, render_verdict
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun, markdown
from checkly_gate.reports.formats import FORMAT_BY_KEY, FORMATS
from checkly_gate.scope import Scope
from checkly_gate.verdict import Outcome, Verdict

log = logging.getLogger("checkly_gate")

Renderer = Callable[[GateRun], str]


def render_safely(render: Renderer, run: GateRun) -> str:
    """``render(run)``, or "" (logged) when the renderer trips over odd data."""
    try:
        return render(run)
    except Exception as exc:
        log.error("cannot render a report: %s: %s", type(exc).__name__, exc)
        return ""


def write_outputs(
    run: GateRun,
    targets: dict[str, Path | None],
    secrets: Secrets,
    problems: list[str] | None = None,
) -> dict[str, Path]:
    """Render and write each requested format (``{"junit": path, ...}``); returns what was
    written. ``files.write_atomic`` decides how (atomic, through a symlink, in place).

    A report that cannot be rendered or written is logged on stderr and its one-line message
    appended to ``problems`` (for a CI annotation); never fatal: the verdict must still reach
    the exit code.
    """
    written: dict[str, Path] = {}
    for kind, path in targets.items():
        if path is None:
            continue
        try:
            fmt = FORMAT_BY_KEY[kind]
            # Big formats are written in pieces, never joined into one string: the snapshot's
            # raw bodies as received (a 30,000-result body is 14 MB), JUnit per testcase.
            if fmt.pieces is not None:
                write_pieces(path, fmt.pieces(run), secrets)
            else:
                write_atomic(path, fmt.render(run), secrets)
        except OSError as exc:
            message = f"cannot write the {kind} report {path}: {exc.strerror or exc}"
        except Exception as exc:  # a renderer tripping over odd data must not cost the verdict
            message = f"cannot render the {kind} report {path}: {type(exc).__name__}: {exc}"
        else:
            written[kind] = path
            continue
        log.error("%s", message)
        if problems is not None:
            problems.append(message)
    return written


def output_targets(options: Options) -> dict[str, Path | None]:
    """Where each format of ``reports.formats.FORMATS`` goes (``None``: not asked for)."""
    return {fmt.key: getattr(options, fmt.key) for fmt in FORMATS}


def finish(
    run: GateRun,
    options: Options,
    out: TextIO,
    integration: Integration | None,
    secrets: Secrets,
    colour: bool = False,
    said: bool = False,
    publishers: Sequence[Any] = (),
    scope: Scope | None = None,
) -> None:
    """Write files, print the verdict and publish to the CI, then to the ``publishers``
    (``publish.publish_verdict`` under a shielded child of ``scope``: none can change the exit
    code). ``said``: the verdict is already on stderr (a usage error's one line): not printed
    again."""
    problems: list[str] = []
    written = write_outputs(run, output_targets(options), secrets, problems)
    lines = [] if said else render_verdict(run.verdict, colour) + render_explanations(run)
    if integration is not None:
        lines = integration.protect(lines)
        summary_text = secrets(render_safely(markdown.render, run))
        lines += integration.publish(
            run, summary_text, written.get("junit"), written.get("summary"), secrets
        )
        lines += [line for problem in problems for line in integration.report_problem(problem)]
    for line in lines:
        out.write(secrets(line) + "\n")
    out.flush()
    if publishers and scope is not None:
        from checkly_gate.publish.publishers import publish_verdict

        publish_verdict(publishers, scope, run, secrets(render_safely(markdown.render, run)))


def shadowed(run: GateRun, shadow: bool) -> GateRun:
    """``--shadow``: ``run`` with exit code 0 and the shadow line among the verdict's warnings
    (so the terminal, summary, JUnit and snapshot say it), the gate's own code kept in
    ``would_exit_code`` (the ``would-exit-code`` output); ``contextual.shadow`` decides.
    Applied once, before ``finish``, by every path, and recorded here, by every path, in the
    run's ``context`` (``"shadow": True``): a snapshot of a command that ended before any wait
    (no match, no session, a failed trigger) is shadowed by ``report`` too."""
    if not shadow:
        return run
    verdict, would = contextual.shadow(run.verdict)
    context = {**run.context, "shadow": True}
    return dataclasses.replace(run, verdict=verdict, would_exit_code=would, context=context)


def deferred_signal(run: GateRun, scope: Scope) -> GateRun:
    """``run`` with the exit code of a signal that arrived while its outputs were written."""
    if scope.signal is None or run.signal is not None:
        return run
    log.warning(
        "signal %d arrived while the outputs were written: they hold the verdict reached "
        "before it (%s); exiting %d",
        scope.signal,
        run.verdict.outcome.label,
        128 + scope.signal,
    )
    verdict = dataclasses.replace(run.verdict, exit_code=128 + scope.signal)
    return dataclasses.replace(run, verdict=verdict)


def configuration_problem(verdict: Verdict, client: Client) -> Verdict:
    """A configuration problem (``api.Misconfigured``: a TLS certificate that cannot be
    verified, a proxy that refuses, a base URL that is not the Checkly API) met before the API
    answered anything is a configuration error (exit 2), not a refusal: nothing was ever read.
    Applied to every command's verdict, so the same problem is the same code everywhere."""
    problem = client.misconfigured
    if problem is None or client.answers or verdict.outcome is Outcome.INTERRUPTED:
        return verdict
    return dataclasses.replace(
        verdict,
        outcome=Outcome.USAGE,
        exit_code=Outcome.USAGE.value,
        reason=f"configuration problem: {problem}",
    )
