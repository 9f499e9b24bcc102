"""Command line: parse, wire, exit. Heavy modules are imported per command to keep start-up fast."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from checkly_gate import __version__

if TYPE_CHECKING:
    from checkly_gate.config import Options

EXIT_USAGE = 2

EXIT_CODES = """
exit codes (with the name the `status` output and CHECKLY_GATE_STATUS give):
  0 passed  1 failed  2 error (usage or configuration)  3 cancelled
  4 timed-out (still running at the deadline)  5 refused (400/401/403, or 404 after the grace)
  6 unavailable (network errors, 5xx, 429 until the deadline)
  7 no-match (run: no check matched; 0 with --no-fail-on-no-matching)
  8 no-session (--commit: none found; 0 with --no-fail-on-no-session)
  130/143 interrupted (SIGINT/SIGTERM; 129 SIGHUP)
"""

WAIT_EPILOG = (
    """\
examples:
  export CHECKLY_API_KEY=cu_...  CHECKLY_ACCOUNT_ID=...
  checkly-gate wait 3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10
  checkly-gate wait $SESSION_ID --timeout 900 --json out/checkly.json --junit out/junit.xml
  checkly-gate wait $ID1 $ID2 --fail-on-flaky --config ci/checkly-gate.yml
  checkly-gate wait --commit                    # the sessions of the CI's commit (GITHUB_SHA...)
  checkly-gate wait --check-session $CHECK_SESSION_ID
"""
    + EXIT_CODES
)

RUN_EPILOG = (
    """\
examples:
  checkly-gate run --tags web,critical                # checks tagged web AND critical
  checkly-gate run --tags web --tags api --retries 1  # web OR api
  checkly-gate run --check-id $CHECK_ID --env BASE_URL=https://staging.example.com
  checkly-gate run --tags smoke --detach              # then later: checkly-gate wait $ID
"""
    + EXIT_CODES
)

MAIN_EPILOG = (
    """\
examples:
  checkly-gate demo                     # the whole flow against the built-in simulator
  checkly-gate wait $SESSION_ID         # wait for a real session (CHECKLY_API_KEY set)
  checkly-gate simulate --port 4010     # serve a local fake Checkly API
"""
    + EXIT_CODES
)


class UsageError(Exception):
    """The command line cannot be parsed; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are raised (``UsageError``), so they are reported like any other
    usage error (one line, exit 2, reports when their paths are known), and whose help and
    version output survives a closed or non-UTF-8 stdout."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def _print_message(self, message: str, file: Any = None) -> None:
        from checkly_gate.streams import safe

        if message:
            stream = safe(file or sys.stderr)
            stream.write(message)
            stream.flush()


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, got {port}")
    return port


def _speed(text: str) -> float:
    """argparse type: a finite time factor above 0."""
    import math

    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(speed) or not 0 < speed <= 1000:
        raise argparse.ArgumentTypeError(f"expected a number above 0 and up to 1000, got {text!r}")
    return speed


def number(text: str) -> float:
    """A number of seconds from a flag, echoed as written in an error (``config.Written``);
    argparse names this function in "invalid number value"."""
    from checkly_gate.config import Written  # lazy: keeps `--version` fast

    return Written(text)


def _add_tags(parser: argparse.ArgumentParser, text: str) -> None:
    """``--tags A,B``, repeatable: one AND-group per use, the groups ORed (Checkly's matchTags)."""
    parser.add_argument("--tags", action="append", default=[], metavar="A,B", help=text)


def _add_table_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of ``command`` (wait, run, report), generated from ``config.OPTION_TABLE``:
    ``--KEY`` with the row's metavar and help, typed by the row's kind (numbers of seconds
    echoed as written, lists repeatable, yes/no values with ``--no-KEY``)."""
    from checkly_gate.config import OPTION_TABLE, help_text

    for spec in OPTION_TABLE:
        if command not in spec.commands:
            continue
        flag, text = f"--{spec.key}", help_text(spec, command)
        if spec.kind is bool:
            action: Any = argparse.BooleanOptionalAction if spec.negatable else "store_true"
            default = None if spec.negatable else False
            parser.add_argument(flag, action=action, default=default, help=text)
        elif spec.kind in (list, dict):
            parser.add_argument(flag, action="append", default=[], metavar=spec.metavar, help=text)
        elif spec.const is not None:
            parser.add_argument(flag, nargs="?", const=spec.const, metavar=spec.metavar, help=text)
        else:
            kinds: dict[type, Callable[[str], Any]] = {float: number, int: int, str: str}
            parser.add_argument(flag, type=kinds[spec.kind], metavar=spec.metavar, help=text)


def _add_volume(parser: argparse.ArgumentParser) -> None:
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

    _add_wait(commands)
    _add_run(commands)
    _add_simulate(commands)
    _add_demo(commands)
    _add_report(commands)
    return parser


def _add_wait(commands: Any) -> None:
    """``wait``: session ids, or ``--commit`` / ``--check-session``, and the table's flags."""
    wait = commands.add_parser(
        "wait",
        help="wait for test sessions and exit with their verdict",
        description="Follow Checkly test sessions until they end and exit with a documented code.",
        epilog=WAIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wait.add_argument(
        "session_ids", nargs="*", metavar="SESSION_ID", help="test session UUID (or use --commit)"
    )
    wait.add_argument(
        "--check-session",
        action="append",
        default=[],
        metavar="ID",
        help="a check session (UUID) to wait for; repeatable",
    )
    _add_table_options(wait, "wait")
    _add_volume(wait)


def _add_run(commands: Any) -> None:
    """``run``: the table's flags of ``run`` (trigger options, then those of ``wait``)."""
    run = commands.add_parser(
        "run",
        help="start a test session (by tags or check ids), then wait for it",
        description="Trigger a Checkly test session and wait for it exactly as `wait` does.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_table_options(run, "run")
    _add_volume(run)


def _add_simulate(commands: Any) -> None:
    """``simulate``: serve the simulator."""
    simulate = commands.add_parser(
        "simulate",
        help="serve a local simulator of the Checkly API",
        description="Serve a local Checkly API on 127.0.0.1 whose sessions progress over time.",
    )
    simulate.add_argument("--port", type=_port, default=4010, help="port (default 4010; 0 = free)")
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
        "--speed", type=_speed, default=1.0, help="time factor (2 = twice as fast)"
    )


def _add_demo(commands: Any) -> None:
    """``demo``: the whole flow against the built-in simulator."""
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
    demo.add_argument("--speed", type=_speed, default=1.0, help=argparse.SUPPRESS)


def _add_report(commands: Any) -> None:
    """``report``: render reports again from a snapshot (the formats' flags)."""
    report = commands.add_parser(
        "report",
        help="render reports again from a --json snapshot, offline",
        description="Render the reports of an earlier `wait` from its --json snapshot, offline, "
        "and exit with the same code.",
    )
    report.add_argument("snapshot", metavar="SNAPSHOT.json", help="file written by wait --json")
    _add_table_options(report, "report")
    report.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only the verdict and errors, as for wait (report prints nothing else anyway)",
    )


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    from checkly_gate.config import SPECS

    return {
        spec.key: getattr(args, spec.key.replace("-", "_"))
        for spec in SPECS
        if getattr(args, spec.key.replace("-", "_"), None) is not None
    }


def _setup_logging(err: TextIO, verbosity: int) -> None:
    import logging

    from checkly_gate.text import line

    class OneLine(logging.Formatter):
        """Every log record is one inert line: log messages carry server and error texts."""

        def format(self, record: logging.LogRecord) -> str:
            return line(super().format(record))

    logger = logging.getLogger("checkly_gate")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(err)
    handler.setFormatter(OneLine("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity])


def _use_colour(stream: TextIO, env: dict[str, str]) -> bool:
    from checkly_gate.streams import use_colour

    return use_colour(stream, env)


def _options(
    args: argparse.Namespace, env: dict[str, str], session_ids: list[str], require_sessions: bool
) -> Options:
    """The validated options of ``wait`` or ``run`` (flags over env over the config file)."""
    from checkly_gate.config import resolve

    return resolve(
        session_ids,
        _flags(args),
        env,
        Path.cwd(),
        config_path=args.config,
        api_key_flag=args.api_key,
        verbosity=-1 if args.quiet else (1 if args.verbose else 0),
        require_sessions=require_sessions,
    )


def cmd_wait(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    import dataclasses
    import re

    from checkly_gate.config import SESSION_ID_ENVS, ConfigError, parse_session_id
    from checkly_gate.discovery import ENV, parse_options, run_discovered

    given = bool(args.session_ids or args.check_session)
    searching = any(
        value is not None for value in (args.commit, args.branch, args.provider, args.environment)
    ) or any(
        env.get(ENV[key], "").strip() for key in ("commit", "branch", "provider", "environment")
    )
    if not given and not searching:
        # A bare `wait`: the ids the job before handed over (`run --detach --dotenv` writes
        # CHECKLY_GATE_SESSION_ID; CHECKLY_SESSION_ID is the older documented name). A
        # commit asked for by flag or variable wins over an id inherited from an earlier job.
        for name in SESSION_ID_ENVS:
            text = env.get(name, "")
            if text.strip():
                args.session_ids = [i for i in re.split(r"[\s,]+", text) if i]
                given = True
                break
    discovery = parse_options(
        args.commit,
        args.branch,
        args.provider,
        args.environment,
        args.discover_timeout,
        args.fail_on_no_session,
        env,
        use_env=not given,
    )
    if discovery is None and not given:
        raise ConfigError(
            "SESSION_ID is required (or --commit [SHA] to find the sessions of a commit, "
            "or --check-session ID)"
        )
    if discovery is not None and given:
        raise ConfigError("give session ids or --commit/--branch, not both")
    options = _options(args, env, args.session_ids, require_sessions=not (discovery or given))
    if args.check_session:
        checks = tuple(dict.fromkeys(parse_session_id(i) for i in args.check_session))
        options = dataclasses.replace(
            options, session_ids=options.session_ids + checks, check_session_ids=checks
        )
    _setup_logging(err, options.verbosity)
    if discovery is not None:
        return run_discovered(options, discovery, out, env, colour=_use_colour(out, env))
    from checkly_gate.gate import run_gate

    run = run_gate(options, out, env=env, colour=_use_colour(out, env))
    return run.verdict.exit_code


def cmd_run(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    from checkly_gate.config import check_text
    from checkly_gate.trigger import run_options

    for flag, values in (
        ("--tags", args.tags),
        ("--env", args.env),
        ("--env-plain", args.env_plain),
        ("--location", [args.location or ""]),
        ("--name", [args.name or ""]),
    ):
        for value in values:
            check_text(value, flag)
    options = _options(args, env, [], require_sessions=False)
    # flags over the config file's run options (tags, check-id, retries, ...)
    # flags over the environment's and the config file's; the rules between options (e.g.
    # --check-sessions takes no --env) hold whatever the source.
    trigger_options = run_options(vars(args), options.run, options.sources, env)
    _setup_logging(err, options.verbosity)
    if trigger_options.check_sessions:
        from checkly_gate.check_session_flow import run_check_sessions

        return run_check_sessions(options, trigger_options, out, env, colour=_use_colour(out, env))
    from checkly_gate.launch import run_launch

    return run_launch(options, trigger_options, out, env, colour=_use_colour(out, env))


MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024  # four 64 MiB bodies (``api.MAX_BODY_BYTES``)


def cmd_report(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    import dataclasses

    from checkly_gate.ci import detect
    from checkly_gate.config import ConfigError, Options
    from checkly_gate.files import UnreadableInput, read_bounded
    from checkly_gate.gate import finish
    from checkly_gate.redact import Redactor
    from checkly_gate.reports import snapshot
    from checkly_gate.reports.formats import FORMATS

    path = Path(args.snapshot)
    try:  # a regular file of bounded size only: a FIFO or /dev/zero is refused at once
        text = read_bounded(path, MAX_SNAPSHOT_BYTES, "snapshot").decode("utf-8")
    except UnreadableInput as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        run = snapshot.load(text)
    except snapshot.SnapshotError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except Exception as exc:  # any other shape or type the reader trips over: not a snapshot
        raise ConfigError(f"{path}: not a readable snapshot ({type(exc).__name__})") from None
    cwd = Path.cwd()

    def target(value: str | None) -> Path | None:
        return None if value is None else cwd / value

    targets: dict[str, Any] = {
        fmt.key: target(getattr(args, fmt.key)) for fmt in FORMATS if fmt.rerenders
    }
    options = dataclasses.replace(
        Options(session_ids=tuple(o.session_id for o in run.observations), api_key=""), **targets
    )
    _setup_logging(err, 0)
    redactor = Redactor([env.get("CHECKLY_API_KEY")])
    finish(run, options, out, detect(env), redactor)  # -q: nothing to leave out
    return run.verdict.exit_code


def cmd_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from checkly_gate.simulator import ScenarioError, Simulator, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        _error(err, str(exc))
        return EXIT_USAGE
    from checkly_gate.simulator.ratelimit import parse_rate_limit

    try:
        rate_limit = parse_rate_limit(args.rate_limit)
    except ValueError as exc:
        _error(err, f"--rate-limit: {exc}")
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
    except (OSError, OverflowError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        _error(err, f"cannot listen on 127.0.0.1:{args.port}: {reason}")
        return EXIT_USAGE
    if scenario.listed_after is not None:
        commit = str(scenario.metadata.get("commitId"))
        out.write(
            f"A session of commit {commit[:12]} appears after {scenario.listed_after:g}s; try:\n"
            f"  CHECKLY_API_KEY={args.api_key} checkly-gate wait --api-url {sim.url} "
            f"--poll-interval 1 --commit {commit[:12]}\n"
        )
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

    if args.tags and not args.trigger:
        _error(err, "demo: --tags selects the checks of --trigger; add --trigger")
        return EXIT_USAGE
    try:
        scenario = load_scenario(args.scenario or ("trigger-demo" if args.trigger else "passing"))
        tags = parse_tags(args.tags)
    except (ScenarioError, ConfigError) as exc:
        _error(err, str(exc))
        return EXIT_USAGE
    folder = Path(args.output_dir).resolve()
    key = "demo-" + uuid.uuid4().hex
    colour = _use_colour(out, env)
    # The demo is self-contained: its simulator runs in this process. It shows the plain log,
    # with no environment: a CI integration (any system's, detected from the caller's variables)
    # would write the demo's checks into the caller's job as annotations, outputs and groups,
    # and a proxy variable would send the requests to 127.0.0.1 through the proxy.
    demo_env: dict[str, str] = {}
    _setup_logging(err, 0)
    with _without_proxies(), Simulator(scenario=scenario, api_key=key, speed=args.speed) as sim:
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
        # The command the demo runs, as a user would type it (the key goes in the environment).
        outputs = shlex.join(
            [
                *("--api-url", sim.url, "--timeout", "120", "--poll-interval", "1"),
                *("--not-found-grace", "10"),
                *("--json", str(options.json), "--junit", str(options.junit)),
                *("--summary", str(options.summary)),
            ]
        )
        out.write(f"checkly-gate demo: simulator at {sim.url}, scenario '{scenario.name}'\n")
        out.write("$ export CHECKLY_API_KEY=<the simulator's demo key>\n")
        if scenario.listed_after is not None:
            from checkly_gate.discovery import DiscoveryOptions, run_discovered

            commit = str(scenario.metadata.get("commitId"))
            out.write(f"$ checkly-gate wait --commit {commit} --discover-timeout 60 {outputs}\n\n")
            code = run_discovered(
                options,
                DiscoveryOptions(commit=commit, discover_timeout=60.0),
                out,
                demo_env,
                colour=colour,
            )
        elif args.trigger:
            shown = "".join(f"--tags {shlex.quote(','.join(group))} " for group in tags)
            out.write(f"$ checkly-gate run {shown}{outputs}\n\n")
            code = run_launch(
                options, TriggerOptions(tag_groups=tags), out, demo_env, colour=colour
            )
        else:
            out.write(f"$ checkly-gate wait {session_id} {outputs}\n\n")
            code = run_gate(options, out, env=demo_env, colour=colour).verdict.exit_code
    written = [p for p in (options.json, options.junit, options.summary) if p and p.exists()]
    if written:
        out.write(f"\nReports written to {folder}:\n")
    else:
        out.write(f"\nNo report could be written to {folder} (the reasons are above).\n")
    for path in written:
        out.write(f"  {path}\n")
    out.write(f"checkly-gate exits with code {code}, as it would in your pipeline.\n")
    return code


@contextlib.contextmanager
def _without_proxies() -> Iterator[None]:
    """This process's environment without proxy variables (``*_proxy``, any case, but
    ``no_proxy``) while the block runs: httpx reads them from ``os.environ`` itself."""
    saved = {
        name: os.environ.pop(name)
        for name in list(os.environ)
        if name.lower().endswith("_proxy") and name.lower() != "no_proxy"
    }
    try:
        yield
    finally:
        os.environ.update(saved)


def _error(err: TextIO, message: str) -> None:
    """The one-line usage error on stderr."""
    from checkly_gate.text import line

    err.write(f"checkly-gate: error: {line(message)}\n")
    err.flush()


def _lenient(argv: list[str]) -> argparse.Namespace:
    """What can be read of the command line even when it does not parse as a whole: the command,
    the secrets (to redact them from the first line on) and where the reports go."""

    class Quiet(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise ValueError(message)  # never print: the real parser reports the mistake

    from checkly_gate.reports.formats import FORMATS

    parser = Quiet(add_help=False)  # abbreviations allowed, like the real parser
    parser.add_argument("command", nargs="?")
    singles = ("--api-key", "--config", *(fmt.flag for fmt in FORMATS))
    for flag in singles:
        parser.add_argument(flag)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--env-plain", action="append", default=[])
    try:
        known, _ = parser.parse_known_args(argv)
        return known
    except (SystemExit, Exception):  # argparse exits on some errors: nothing known then
        nothing = {flag[2:].replace("-", "_"): None for flag in singles}
        return argparse.Namespace(command=None, env=[], env_plain=[], **nothing)


def usage_error(
    message: str, known: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO
) -> int:
    """Exit 2 with one line on stderr, and, when the report paths or the CI are known, the
    reports of an ``error`` outcome through the same finish path as every other outcome."""
    _register_secrets(known, env)
    _error(err, message)
    if known.command not in ("wait", "run", "report"):
        return EXIT_USAGE
    from checkly_gate.ci import detect
    from checkly_gate.config import Options, output_paths
    from checkly_gate.reports.formats import FORMATS

    flags = {fmt.key: getattr(known, fmt.key, None) for fmt in FORMATS}
    if known.command == "report":  # report renders again what a snapshot can give, no env
        flags = {fmt.key: flags[fmt.key] if fmt.rerenders else None for fmt in FORMATS}
        env = {k: v for k, v in env.items() if not k.startswith("CHECKLY_GATE_")}
    paths = output_paths(flags, env, Path.cwd(), getattr(known, "config", None))
    integration = detect(env)
    if integration is None and not any(paths.values()):
        return EXIT_USAGE
    from checkly_gate.gate import finish
    from checkly_gate.redact import everywhere
    from checkly_gate.reports import GateRun
    from checkly_gate.verdict import usage_verdict

    _setup_logging(err, 0)
    import dataclasses

    targets: dict[str, Any] = dict(paths)
    options = dataclasses.replace(Options(session_ids=(), api_key=""), **targets)
    verdict = usage_verdict(message)
    finish(GateRun(verdict=verdict), options, out, integration, everywhere(), said=True)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``checkly-gate`` console script."""
    from checkly_gate.streams import close_stdout, prepare_stdio

    argv = sys.argv[1:] if argv is None else list(argv)
    out, err = prepare_stdio()
    try:
        return _main(argv, dict(os.environ), out, err)
    except KeyboardInterrupt:
        err.write("checkly-gate: interrupted\n")
        return 130
    finally:
        close_stdout()


def _register_secrets(known: argparse.Namespace, env: dict[str, str]) -> None:
    """Make every writer of this process mask the API key and the ``--env`` values."""
    from checkly_gate.redact import Redactor

    flagged = [*known.env, *getattr(known, "env_plain", [])]
    given = [value for value in flagged if isinstance(value, str)]
    for name in ("CHECKLY_GATE_ENV", "CHECKLY_GATE_ENV_PLAIN"):
        given += env.get(name, "").splitlines()
    env_values = [value.partition("=")[2] for value in given]
    # `simulate --api-key` is the key a local fake accepts, shown in its hint: not a secret.
    flag_key = None if known.command == "simulate" else known.api_key
    Redactor([flag_key, env.get("CHECKLY_API_KEY")], env_values)  # registers them


def _main(argv: list[str], env: dict[str, str], out: TextIO, err: TextIO) -> int:
    known = _lenient(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # --version and --help end here, before heavy imports
    except UsageError as exc:
        return usage_error(str(exc), known, env, out, err)
    _register_secrets(known, env)
    from checkly_gate.config import ConfigError

    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    commands = {"wait": cmd_wait, "demo": cmd_demo, "run": cmd_run, "report": cmd_report}
    if args.command in ("wait", "run", "report"):
        from checkly_gate.ci import shielded

        out, err = shielded(out, env), shielded(err, env)  # no CI log commands from API text
    try:
        if args.command == "simulate":
            return cmd_simulate(args, out, err)
        return commands[args.command](args, env, out, err)
    except ConfigError as exc:
        return usage_error(str(exc), known, env, out, err)
