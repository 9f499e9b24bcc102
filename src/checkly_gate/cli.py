"""Command line: parse argv, build the command's secrets, dispatch to one ``commands/*`` module,
exit. Heavy modules are imported per command to keep start-up fast."""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from checkly_gate import __version__

if TYPE_CHECKING:
    from checkly_gate.redact import Secrets

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

    def parse_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but words it does not know are reported by the command they were given
        to (``see checkly-gate wait --help``, with the closest option it has), and only the
        unknown options are named, never the word after one: that is the value of a mistyped
        option, such as ``--api-kye cu_...``, and may be a secret."""
        parsed, extras = self.parse_known_args(args, namespace)
        if not extras:
            return parsed
        sub = self._command_parser(getattr(parsed, "command", None))
        options = [word.partition("=")[0] for word in extras if word.startswith("-")]
        if not options:
            sub.error(f"unexpected argument{'s' * (len(extras) > 1)}: {' '.join(extras)}")
        known = [flag for action in sub._actions for flag in action.option_strings]
        close = difflib.get_close_matches(options[0], known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        plural = "s" * (len(options) > 1)
        sub.error(f"unknown option{plural} {' '.join(options)}{hint}")

    def _command_parser(self, command: str | None) -> argparse.ArgumentParser:
        """The parser of subcommand ``command`` (this one when there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                parser: argparse.ArgumentParser = action.choices[command]
                return parser
        return self

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
    parser.add_argument("--notify", action="append", default=[])
    parser.add_argument("--notify-on")  # so its value is never read as a --notify URL
    try:
        known, _ = parser.parse_known_args(argv)
        return known
    except (SystemExit, Exception):  # argparse exits on some errors: nothing known then
        nothing = {flag[2:].replace("-", "_"): None for flag in singles}
        return argparse.Namespace(command=None, env=[], env_plain=[], notify=[], **nothing)


def usage_error(
    message: str,
    known: argparse.Namespace,
    env: dict[str, str],
    out: TextIO,
    err: TextIO,
    secrets: Secrets,
) -> int:
    """Exit 2 with one line on stderr, and, when the report paths or the CI are known, the
    reports of an ``error`` outcome through the same finish path as every other outcome."""
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
    from checkly_gate.context import setup_logging
    from checkly_gate.finish import finish
    from checkly_gate.reports import GateRun
    from checkly_gate.verdict import usage_verdict

    setup_logging(err, 0)
    import dataclasses

    targets: dict[str, Any] = dict(paths)
    options = dataclasses.replace(Options(session_ids=(), api_key=""), **targets)
    verdict = usage_verdict(message)
    finish(GateRun(verdict=verdict), options, out, integration, secrets, said=True)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``checkly-gate`` console script.

    A stop signal is held from here on (``scope.held_stop_signals``): one that arrives while the
    command still imports or parses reaches the command's scope once it has one (reports
    written, exit 130/143/129); one no scope took ends the command with 128 + the signal.
    """
    from checkly_gate.scope import held_stop_signals

    with held_stop_signals() as undelivered:
        code = _main_held(argv)
    if undelivered and code < 128:
        name = signal.Signals(undelivered[0]).name
        sys.stderr.write(f"checkly-gate: interrupted by {name}\n")
        return 128 + undelivered[0]
    return code


def _main_held(argv: list[str] | None) -> int:
    """``main`` with its stop signals held."""
    from checkly_gate.streams import close_stdout, prepare_stdio

    argv = sys.argv[1:] if argv is None else list(argv)
    env = dict(os.environ)
    known = _lenient(argv)
    secrets = command_secrets(known, env)
    out, err = prepare_stdio(secrets)
    try:
        return _main(argv, env, out, err, known, secrets)
    except KeyboardInterrupt:
        err.write("checkly-gate: interrupted\n")
        return 130
    finally:
        close_stdout()


def command_secrets(known: argparse.Namespace, env: dict[str, str]) -> Secrets:
    """The command's secrets, built once from what the command line and the environment carry:
    the API key, the ``--env``/``--env-plain`` values (flags, ``CHECKLY_GATE_ENV*``), the
    ``--notify`` webhook URLs (flags, ``CHECKLY_GATE_NOTIFY``) and the publishers' tokens
    (``GITHUB_TOKEN``, ``CHECKLY_GATE_GITLAB_TOKEN``). Every
    writer of the command masks them; the command adds what it learns later (the config file's
    ``env`` values, a proxy's credentials)."""
    from checkly_gate.redact import Secrets

    flagged = [*known.env, *getattr(known, "env_plain", [])]
    given = [value for value in flagged if isinstance(value, str)]
    for name in ("CHECKLY_GATE_ENV", "CHECKLY_GATE_ENV_PLAIN"):
        given += env.get(name, "").splitlines()
    env_values = [value.partition("=")[2] for value in given]
    # `simulate --api-key` is the key a local fake accepts, shown in its hint: not a secret.
    flag_key = None if known.command == "simulate" else known.api_key
    from checkly_gate.redact import PUBLISH_TOKEN_VARIABLES, url_secrets

    urls = [u for u in getattr(known, "notify", []) if isinstance(u, str)]
    urls += env.get("CHECKLY_GATE_NOTIFY", "").splitlines()
    webhooks = [s for url in urls if url.strip() for s in url_secrets(url.strip())]
    tokens = [env.get(name) for name in PUBLISH_TOKEN_VARIABLES]
    return Secrets([flag_key, env.get("CHECKLY_API_KEY"), *tokens, *webhooks], env_values)


def _main(
    argv: list[str],
    env: dict[str, str],
    out: TextIO,
    err: TextIO,
    known: argparse.Namespace,
    secrets: Secrets,
) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # --version and --help end here, before heavy imports
    except UsageError as exc:
        return usage_error(str(exc), known, env, out, err, secrets)
    from checkly_gate.config import ConfigError

    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    if args.command in ("wait", "run", "report"):
        from checkly_gate.ci import shielded

        out, err = shielded(out, env), shielded(err, env)  # no CI log commands from API text
    try:
        if args.command == "simulate":
            from checkly_gate import held_signals
            from checkly_gate.commands.demo import simulate

            held_signals.release()  # it serves until Ctrl-C (KeyboardInterrupt)
            return simulate(args, out, err)
        return _command(args.command).main(args, env, out, err, secrets)
    except ConfigError as exc:
        return usage_error(str(exc), known, env, out, err, secrets)


def _command(name: str) -> Any:
    """The module of command ``name``, imported now: ``--version`` and ``--help`` stay fast."""
    if name == "wait":
        from checkly_gate.commands import wait

        return wait
    if name == "run":
        from checkly_gate.commands import run

        return run
    if name == "report":
        from checkly_gate.commands import report

        return report
    from checkly_gate.commands import demo

    return demo
