"""Command line: parse, wire, exit. Heavy modules are imported per command to keep start-up fast."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from checkly_gate import __version__

EXIT_USAGE = 2

WAIT_EPILOG = """\
examples:
  export CHECKLY_API_KEY=cu_...  CHECKLY_ACCOUNT_ID=...
  checkly-gate wait 3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10
  checkly-gate wait $SESSION_ID --timeout 900 --json out/checkly.json --junit out/junit.xml
  checkly-gate wait $ID1 $ID2 --fail-on-flaky --config ci/checkly-gate.yml

exit codes:
  0 passed  1 failed  2 usage/config error  3 cancelled  4 timed out while running
  5 API refused (400/401/403/404)  6 API unavailable until the deadline
  130/143 interrupted by SIGINT/SIGTERM
"""

RUN_EPILOG = """\
examples:
  checkly-gate run --tags web,critical                # checks tagged web AND critical
  checkly-gate run --tags web --tags api --retries 1  # web OR api
  checkly-gate run --check-id $CHECK_ID --env BASE_URL=https://staging.example.com
  checkly-gate run --tags smoke --detach              # then later: checkly-gate wait $ID

exit codes: as `wait`, plus 7 when no check matched (0 with --no-fail-on-no-matching)
"""

MAIN_EPILOG = """\
examples:
  checkly-gate demo                     # the whole flow against the built-in simulator
  checkly-gate wait $SESSION_ID         # wait for a real session (CHECKLY_API_KEY set)
  checkly-gate simulate --port 4010     # serve a local fake Checkly API
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _add_tags(parser: argparse.ArgumentParser, text: str) -> None:
    """``--tags A,B``, repeatable: one AND-group per use, the groups ORed (Checkly's matchTags)."""
    parser.add_argument("--tags", action="append", default=[], metavar="A,B", help=text)


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--api-key", metavar="KEY", help="API key (prefer the env CHECKLY_API_KEY)")
    add(
        "--account-id",
        metavar="ID",
        help="account id, sent as X-Checkly-Account [env CHECKLY_ACCOUNT_ID]",
    )
    add(
        "--api-url",
        metavar="URL",
        help="API base URL [env CHECKLY_API_URL; default https://api.checklyhq.com]",
    )
    add(
        "--timeout",
        metavar="SECONDS",
        type=float,
        help="one overall deadline for everything [env CHECKLY_GATE_TIMEOUT; default 1800]",
    )
    add(
        "--poll-interval",
        metavar="SECONDS",
        type=float,
        help="read progress at least this often; more often while results change "
        "[env CHECKLY_GATE_POLL_INTERVAL; default 150]",
    )
    add(
        "--not-found-grace",
        metavar="SECONDS",
        type=float,
        help="keep retrying 404 this long "
        "after start [env CHECKLY_GATE_NOT_FOUND_GRACE; default 30]",
    )
    add("--json", metavar="PATH", help="write sessions + verdict as JSON [env CHECKLY_GATE_JSON]")
    add("--junit", metavar="PATH", help="write a JUnit XML report [env CHECKLY_GATE_JUNIT]")
    add("--summary", metavar="PATH", help="write a markdown summary [env CHECKLY_GATE_SUMMARY]")
    add(
        "--dotenv",
        metavar="PATH",
        help="write a dotenv report for later CI jobs [env CHECKLY_GATE_DOTENV]",
    )
    for flag, text in (
        ("--long-poll", "use the completion long-poll between progress fetches (default on)"),
        ("--fail-on-degraded", "fail when a check is degraded (default off)"),
        ("--fail-on-flaky", "fail when a check passed only after retries (default off)"),
        ("--details", "fetch the error messages of failed checks for the reports (default on)"),
        ("--cancel-on-interrupt", "on SIGINT/SIGTERM ask Checkly to cancel the session once"),
    ):
        add(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
    add(
        "--config",
        metavar="PATH",
        help="YAML file with any option but the API key (default ./checkly-gate.yml if present)",
    )
    volume = parser.add_mutually_exclusive_group()
    volume.add_argument("-q", "--quiet", action="store_true", help="only the verdict and errors")
    volume.add_argument("-v", "--verbose", action="store_true", help="also every request")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="checkly-gate",
        description="Turn a Checkly test session into a CI verdict.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"checkly-gate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    wait = commands.add_parser(
        "wait",
        help="wait for test sessions and exit with their verdict",
        description="Follow Checkly test sessions until they end and exit with a documented code.",
        epilog=WAIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wait.add_argument("session_ids", nargs="+", metavar="SESSION_ID", help="test session UUID")
    _add_wait_options(wait)

    run = commands.add_parser(
        "run",
        help="start a test session (by tags or check ids), then wait for it",
        description="Trigger a Checkly test session and wait for it exactly as `wait` does.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_tags(run, "checks having all these tags; repeat to OR several groups")
    run.add_argument(
        "--check-id", action="append", default=[], metavar="UUID", help="a check to run; repeatable"
    )
    run.add_argument("--location", metavar="REGION", help="run location (default eu-west-1)")
    run.add_argument("--name", help="session name (default: repository@branch from the CI)")
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for the checks; repeatable, up to 50; values are never printed",
    )
    run.add_argument(
        "--retries", type=int, metavar="N", help="retry failed checks up to N times (0-10)"
    )
    run.add_argument(
        "--detach",
        action="store_true",
        help="start, print the session id and link, write them for a later job, exit 0",
    )
    run.add_argument(
        "--fail-on-no-matching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="exit 7 when no check matches (default on)",
    )
    _add_wait_options(run)

    simulate = commands.add_parser(
        "simulate",
        help="serve a local simulator of the Checkly API",
        description="Serve a local Checkly API on 127.0.0.1 whose sessions progress over time.",
    )
    simulate.add_argument("--port", type=int, default=4010, help="port (default 4010; 0 = free)")
    simulate.add_argument("--scenario", default="passing", help="builtin name or YAML file")
    simulate.add_argument("--api-key", default="sim-key", help="key the simulator accepts")
    simulate.add_argument("--account-id", help="account id the simulator requires")
    simulate.add_argument(
        "--rate-limit",
        default="600/60",
        metavar="N/SECONDS",
        help="the account's request budget, 429 beyond it (default 600/60, like Checkly; off)",
    )
    simulate.add_argument(
        "--speed", type=float, default=1.0, help="time factor (2 = twice as fast)"
    )

    demo = commands.add_parser(
        "demo",
        help="run the whole gate against the built-in simulator",
        description="Start the simulator on a free port and run the real `wait` against it.",
    )
    demo.add_argument(
        "--scenario",
        help="builtin name or YAML file (default passing, or trigger-demo with --trigger)",
    )
    demo.add_argument(
        "--trigger",
        action="store_true",
        help="start the session with `run` (trigger, then wait) instead of waiting for one",
    )
    _add_tags(demo, "with --trigger: tag groups to match, as for `run`")
    demo.add_argument(
        "--output-dir",
        default="checkly-gate-demo",
        help="where reports go (default ./checkly-gate-demo)",
    )
    demo.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)

    report = commands.add_parser(
        "report",
        help="render reports again from a --json snapshot, offline",
        description="Render the reports of an earlier `wait` from its --json snapshot, offline, "
        "and exit with the same code.",
    )
    report.add_argument("snapshot", metavar="SNAPSHOT.json", help="file written by wait --json")
    report.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")
    report.add_argument("--summary", metavar="PATH", help="write a markdown summary")
    report.add_argument("--dotenv", metavar="PATH", help="write a dotenv report")
    return parser


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    from checkly_gate.config import SPECS

    return {
        spec.key: getattr(args, spec.key.replace("-", "_"))
        for spec in SPECS
        if getattr(args, spec.key.replace("-", "_"), None) is not None
    }


def _setup_logging(err: TextIO, verbosity: int) -> None:
    import logging

    logger = logging.getLogger("checkly_gate")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity])


def _use_colour(stream: TextIO, env: dict[str, str]) -> bool:
    return "NO_COLOR" not in env and hasattr(stream, "isatty") and stream.isatty()


def cmd_wait(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    from checkly_gate.config import ConfigError, resolve
    from checkly_gate.redact import Redactor, redacting

    api_key = args.api_key if args.api_key is not None else env.get("CHECKLY_API_KEY")
    redactor = Redactor([api_key])
    out, err = redacting(out, redactor), redacting(err, redactor)
    verbosity = -1 if args.quiet else (1 if args.verbose else 0)
    try:
        options = resolve(
            args.session_ids,
            _flags(args),
            env,
            Path.cwd(),
            config_path=args.config,
            api_key_flag=args.api_key,
            verbosity=verbosity,
        )
    except ConfigError as exc:
        err.write(f"checkly-gate: error: {exc}\n")
        return EXIT_USAGE
    _setup_logging(err, verbosity)
    from checkly_gate.gate import run_gate

    run = run_gate(options, out, env=env, colour=_use_colour(out, env))
    return run.verdict.exit_code


def cmd_run(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    from checkly_gate.config import ConfigError, resolve
    from checkly_gate.redact import Redactor, redacting
    from checkly_gate.trigger import (
        TriggerOptions,
        parse_check_ids,
        parse_env_vars,
        parse_tags,
    )

    api_key = args.api_key if args.api_key is not None else env.get("CHECKLY_API_KEY")
    env_values = [v.partition("=")[2] for v in args.env]
    redactor = Redactor([api_key, *env_values])
    out, err = redacting(out, redactor), redacting(err, redactor)
    verbosity = -1 if args.quiet else (1 if args.verbose else 0)
    try:
        if args.retries is not None and not 0 <= args.retries <= 10:
            raise ConfigError(f"--retries must be 0..10, got {args.retries}")
        trigger_options = TriggerOptions(
            tag_groups=parse_tags(args.tags),
            check_ids=parse_check_ids(args.check_id),
            location=args.location,
            name=args.name,
            env_vars=parse_env_vars(args.env),
            retries=args.retries,
            detach=args.detach,
            fail_on_no_matching=args.fail_on_no_matching,
        )
        options = resolve(
            [],
            _flags(args),
            env,
            Path.cwd(),
            config_path=args.config,
            api_key_flag=args.api_key,
            verbosity=verbosity,
            require_sessions=False,
        )
    except ConfigError as exc:
        err.write(f"checkly-gate: error: {exc}\n")
        return EXIT_USAGE
    _setup_logging(err, verbosity)
    from checkly_gate.launch import run_launch

    return run_launch(options, trigger_options, out, env, colour=_use_colour(out, env))


def cmd_report(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    from checkly_gate.ci import detect
    from checkly_gate.config import Options
    from checkly_gate.gate import finish
    from checkly_gate.redact import Redactor, redacting
    from checkly_gate.reports import snapshot

    path = Path(args.snapshot)
    try:
        run = snapshot.load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        err.write(f"checkly-gate: error: cannot read {path}: {getattr(exc, 'strerror', exc)}\n")
        return EXIT_USAGE
    except snapshot.SnapshotError as exc:
        err.write(f"checkly-gate: error: {path}: {exc}\n")
        return EXIT_USAGE
    cwd = Path.cwd()

    def target(value: str | None) -> Path | None:
        return None if value is None else cwd / value

    options = Options(
        session_ids=tuple(o.session_id for o in run.observations),
        api_key="",
        junit=target(args.junit),
        summary=target(args.summary),
        dotenv=target(args.dotenv),
    )
    _setup_logging(err, 0)
    redactor = Redactor([env.get("CHECKLY_API_KEY")])
    finish(run, options, redacting(out, redactor), detect(env), redactor)
    return run.verdict.exit_code


def cmd_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from checkly_gate.simulator import ScenarioError, Simulator, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        err.write(f"checkly-gate: error: {exc}\n")
        return EXIT_USAGE
    if args.speed <= 0:
        err.write("checkly-gate: error: --speed must be positive\n")
        return EXIT_USAGE
    from checkly_gate.simulator.ratelimit import parse_rate_limit

    try:
        rate_limit = parse_rate_limit(args.rate_limit)
    except ValueError as exc:
        err.write(f"checkly-gate: error: {exc}\n")
        return EXIT_USAGE
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
    except OSError as exc:
        err.write(f"checkly-gate: error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}\n")
        return EXIT_USAGE
    out.write(
        f"Simulating the Checkly API at {sim.url} (scenario '{scenario.name}').\n"
        f"Any UUID is a session; try:\n"
        f"  CHECKLY_API_KEY={args.api_key} checkly-gate wait --api-url {sim.url} "
        f"--poll-interval 1 $(python3 -c 'import uuid; print(uuid.uuid4())')\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()
    try:
        while True:
            import time

            time.sleep(3600)
    except KeyboardInterrupt:
        out.write("stopped\n")
    finally:
        sim.stop()
    return 0


def cmd_demo(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    import uuid

    from checkly_gate.config import ConfigError, Options
    from checkly_gate.gate import run_gate
    from checkly_gate.launch import run_launch
    from checkly_gate.simulator import ScenarioError, Simulator, load_scenario
    from checkly_gate.trigger import TriggerOptions, parse_tags

    try:
        scenario = load_scenario(args.scenario or ("trigger-demo" if args.trigger else "passing"))
        tags = parse_tags(args.tags)
    except (ScenarioError, ConfigError) as exc:
        err.write(f"checkly-gate: error: {exc}\n")
        return EXIT_USAGE
    folder = Path(args.output_dir).resolve()
    key = "demo-" + uuid.uuid4().hex
    colour = _use_colour(out, env)
    # The demo shows the plain log: CI integrations would write into the caller's CI files.
    demo_env = {k: v for k, v in env.items() if k not in ("GITHUB_ACTIONS", "GITLAB_CI")}
    _setup_logging(err, 0)
    with Simulator(scenario=scenario, api_key=key, speed=args.speed) as sim:
        session_id = str(uuid.uuid4())
        options = Options(
            session_ids=(session_id,),
            api_key=key,
            api_url=sim.url,
            timeout=120.0,
            poll_interval=1.0,
            not_found_grace=10.0,
            json=folder / "checkly-gate.json",
            junit=folder / "junit.xml",
            summary=folder / "summary.md",
        )
        outputs = "--json ... --junit ... --summary ..."
        out.write(f"checkly-gate demo: simulator at {sim.url}, scenario '{scenario.name}'\n")
        if args.trigger:
            shown = "".join(f"--tags {','.join(group)} " for group in tags)
            out.write(f"$ checkly-gate run {shown}--api-url {sim.url} {outputs}\n\n")
            code = run_launch(
                options, TriggerOptions(tag_groups=tags), out, demo_env, colour=colour
            )
        else:
            out.write(f"$ checkly-gate wait {session_id} --api-url {sim.url} {outputs}\n\n")
            code = run_gate(options, out, env=demo_env, colour=colour).verdict.exit_code
    written = [p for p in (options.json, options.junit, options.summary) if p and p.exists()]
    out.write(f"\nReports written to {folder}:\n")
    for path in written:
        out.write(f"  {path}\n")
    out.write(f"The real gate would exit with code {code}.\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``checkly-gate`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    env = dict(os.environ)
    out, err = sys.stdout, sys.stderr
    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    try:
        if args.command == "wait":
            return cmd_wait(args, env, out, err)
        if args.command == "simulate":
            return cmd_simulate(args, out, err)
        if args.command == "demo":
            return cmd_demo(args, env, out, err)
        if args.command == "run":
            return cmd_run(args, env, out, err)
        if args.command == "report":
            return cmd_report(args, env, out, err)
    except KeyboardInterrupt:
        err.write("checkly-gate: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1
    parser.error(f"unknown command {args.command!r}")
