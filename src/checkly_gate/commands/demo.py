"""``demo`` (the whole gate against the built-in simulator, in this process) and ``simulate``
(serve the simulator until Ctrl-C)."""

from __future__ import annotations

import argparse
import shlex
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from checkly_gate import gate
from checkly_gate.commands import commit, run
from checkly_gate.config import ConfigError, Options
from checkly_gate.context import open_command, setup_logging
from checkly_gate.redact import Secrets
from checkly_gate.simulator import Scenario, ScenarioError, Simulator, load_scenario
from checkly_gate.simulator.ratelimit import parse_rate_limit
from checkly_gate.streams import use_colour
from checkly_gate.text import line
from checkly_gate.trigger import TriggerOptions, parse_tags

EXIT_USAGE = 2


def main(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO, secrets: Secrets
) -> int:
    """``checkly-gate demo``: start the simulator on a free port, run the real command against
    it, say where the reports are; exits with the gate's code."""
    if args.tags and not args.trigger:
        return _usage(err, "demo: --tags selects the checks of --trigger; add --trigger")
    try:
        scenario = load_scenario(args.scenario or ("trigger-demo" if args.trigger else "passing"))
        tags = parse_tags(args.tags)
    except (ScenarioError, ConfigError) as exc:
        return _usage(err, str(exc))
    folder = Path(args.output_dir).resolve()
    key = "demo-" + uuid.uuid4().hex
    secrets.add([key])
    setup_logging(err, 0)
    with Simulator(scenario=scenario, api_key=key, speed=args.speed) as sim:
        options = _demo_options(sim.url, key, folder)
        out.write(f"checkly-gate demo: simulator at {sim.url}, scenario '{scenario.name}'\n")
        out.write("$ export CHECKLY_API_KEY=<the simulator's demo key>\n")
        code = _run_demo(options, scenario, tags if args.trigger else None, out, env, secrets)
    _list_reports(options, folder, out)
    out.write(f"checkly-gate exits with code {code}, as it would in your pipeline.\n")
    return code


def _demo_options(url: str, key: str, folder: Path) -> Options:
    return Options(
        session_ids=(),
        api_key=key,
        api_url=url,
        timeout=120.0,
        poll_interval=1.0,
        not_found_grace=10.0,
        json=folder / "checkly-gate.json",
        junit=folder / "junit.xml",
        summary=folder / "summary.md",
    )


def _run_demo(
    options: Options,
    scenario: Scenario,
    tags: tuple[tuple[str, ...], ...] | None,
    out: TextIO,
    env: Mapping[str, str],
    secrets: Secrets,
) -> int:
    """Print the command the demo runs, as a user would type it, and run it: ``wait --commit``
    for a scenario whose session appears later, ``run`` with ``tags``, else ``wait ID``.

    The demo is self-contained and shows the plain log, so it runs with an empty environment:
    a CI integration (any system's, detected from the caller's variables) would write the
    demo's checks into the caller's job as annotations, outputs and groups, and a proxy
    variable would send the requests to 127.0.0.1 through the proxy."""
    shown = shlex.join(
        [
            *("--api-url", options.api_url, "--timeout", "120", "--poll-interval", "1"),
            *("--not-found-grace", "10"),
            *("--json", str(options.json), "--junit", str(options.junit)),
            *("--summary", str(options.summary)),
        ]
    )
    demo_env: dict[str, str] = {}
    with open_command(options, out, demo_env, secrets, colour=use_colour(out, env)) as ctx:
        if scenario.listed_after is not None:
            sha = str(scenario.metadata.get("commitId"))
            out.write(f"$ checkly-gate wait --commit {sha} --discover-timeout 60 {shown}\n\n")
            found = commit.DiscoveryOptions(commit=sha, discover_timeout=60.0)
            return commit.find_and_wait(ctx, found)
        if tags is not None:
            flags = "".join(f"--tags {shlex.quote(','.join(group))} " for group in tags)
            out.write(f"$ checkly-gate run {flags}{shown}\n\n")
            return run.trigger_and_wait(ctx, TriggerOptions(tag_groups=tags))
        session_id = str(uuid.uuid4())
        out.write(f"$ checkly-gate wait {session_id} {shown}\n\n")
        return gate.wait(ctx, gate.test_sessions([session_id])).verdict.exit_code
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)


def _list_reports(options: Options, folder: Path, out: TextIO) -> None:
    written = [p for p in (options.json, options.junit, options.summary) if p and p.exists()]
    if written:
        out.write(f"\nReports written to {folder}:\n")
    else:
        out.write(f"\nNo report could be written to {folder} (the reasons are above).\n")
    for path in written:
        out.write(f"  {path}\n")


def simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``checkly-gate simulate``: serve the simulator on 127.0.0.1 until Ctrl-C."""
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        return _usage(err, str(exc))
    try:
        rate_limit = parse_rate_limit(args.rate_limit)
    except ValueError as exc:
        return _usage(err, f"--rate-limit: {exc}")
    try:
        sim = Simulator(
            scenario=scenario,
            api_key=args.api_key,
            account_id=args.account_id,
            port=args.port,
            speed=args.speed,
            rate_limit=rate_limit,
        )
        sim.start()
    except (OSError, OverflowError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return _usage(err, f"cannot listen on 127.0.0.1:{args.port}: {reason}")
    _simulate_hint(scenario, args.api_key, sim.url, out)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out.write("stopped\n")
    finally:
        sim.stop()
    return 0


def _simulate_hint(scenario: Scenario, key: str, url: str, out: TextIO) -> None:
    if scenario.listed_after is not None:
        sha = str(scenario.metadata.get("commitId"))
        out.write(
            f"A session of commit {sha[:12]} appears after {scenario.listed_after:g}s; try:\n"
            f"  CHECKLY_API_KEY={key} checkly-gate wait --api-url {url} "
            f"--poll-interval 1 --commit {sha[:12]}\n"
        )
    out.write(
        f"Simulating the Checkly API at {url} (scenario '{scenario.name}').\n"
        f"Any UUID is a session; try:\n"
        f"  CHECKLY_API_KEY={key} checkly-gate wait --api-url {url} "
        f"--poll-interval 1 $(python3 -c 'import uuid; print(uuid.uuid4())')\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()


def _usage(err: TextIO, message: str) -> int:
    """The one-line usage error on stderr; exit 2."""
    err.write(f"checkly-gate: error: {line(message)}\n")
    err.flush()
    return EXIT_USAGE
