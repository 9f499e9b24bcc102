"""The project's own check of its JUnit dialect, and how real consumers read a file.

Always present (no schema file needed), written from the consumers' documented rules:

- Jenkins xUnit ``junit-10.xsd`` (the strictest common schema): ``testsuites`` takes only
  ``name tests failures errors time``; times are SUREFIRE_TIME (we write ``\\d+.\\d{3}``);
  ``property`` needs ``name`` and ``value``; retry elements (``rerunFailure``, ``rerunError``,
  ``flakyFailure``, ``flakyError``) need ``type`` and hold ``stackTrace``, ``system-out``,
  ``system-err`` in that order.
- GitLab, ``lib/gitlab/ci/parsers/test/junit.rb`` and ``lib/gitlab/ci/reports/test_suite.rb``
  (gitlabhq/gitlabhq): ``Hash.from_xml`` then per testcase: ``failure`` -> failed, else ``error``
  -> error, else ``skipped`` -> skipped, else success; the element becomes the shown text when it
  has text, else a hash of its attributes (printed raw); ``rerunFailure``/``flakyFailure`` are
  ignored; a suite is red when failed or error > 0; a testcase is keyed by suite name +
  classname + name and, within one status, a later duplicate replaces the earlier; a missing
  ``time`` is 0; files over 30 MB are refused.
- dorny/test-reporter, ``src/parsers/java-junit/java-junit-parser.ts``: ``failure`` or ``error``
  -> failed, ``skipped`` -> skipped, else success; ``parseFloat(time)`` (a missing time is NaN);
  the shown error is ``type: message`` plus the element text. Its older ``jest-junit`` parser
  decides success from ``testsuites/@failures`` and ``@errors`` alone.

``problems(xml)`` lists every rule a file breaks (empty: fine); ``gitlab_red`` and ``dorny_red``
say whether each consumer shows the file red.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from checkly_gate.reports.junit import MAX_BYTES
from checkly_gate.text import ANSI

TIME = re.compile(r"^\d+\.\d{3}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
VERDICT = ("failure", "error", "skipped")  # GitLab's status order
RETRY = ("rerunFailure", "rerunError", "flakyFailure", "flakyError")
RETRY_CHILDREN = ("stackTrace", "system-out", "system-err")
ROOT_ATTRS = {"name", "tests", "failures", "errors", "time"}
SUITE_ATTRS = {"name", "tests", "failures", "errors", "skipped", "time"}
CASE_ATTRS = {"name", "classname", "time"}


def status(case: ET.Element) -> str:
    """A testcase's status as GitLab (and, merging failure/error, dorny) reads it."""
    for tag, name in zip(VERDICT, ("failed", "error", "skipped"), strict=True):
        if case.find(tag) is not None:
            return name
    return "success"


def gitlab_cases(xml: str) -> dict[str, dict[tuple[str, str, str], str]]:
    """GitLab's test suite: status -> {(suite, classname, name): shown text}; later duplicates
    within one status replace earlier ones."""
    shown: dict[str, dict[tuple[str, str, str], str]] = {}
    for suite in ET.fromstring(xml).iter("testsuite"):
        for case in suite.findall("testcase"):
            key = (suite.get("name", ""), case.get("classname", ""), case.get("name", ""))
            state = status(case)
            element = next((case.find(t) for t in VERDICT if case.find(t) is not None), None)
            text = "" if element is None else (element.text or repr(dict(element.attrib)))
            shown.setdefault(state, {})[key] = text
    return shown


def gitlab_red(xml: str) -> bool:
    cases = gitlab_cases(xml)
    return bool(cases.get("failed") or cases.get("error"))


def dorny_red(xml: str) -> bool:
    """java-junit: any failed testcase; jest-junit: the root's failures/errors attributes."""
    root = ET.fromstring(xml)
    java = any(status(c) in ("failed", "error") for c in root.iter("testcase"))
    jest = int(root.get("failures", "0")) > 0 or int(root.get("errors", "0")) > 0
    if java != jest:
        raise AssertionError(f"dorny's parsers disagree: java-junit {java}, jest-junit {jest}")
    return java


def problems(xml: str, max_bytes: int = MAX_BYTES) -> list[str]:
    """Every rule of the dialect that ``xml`` breaks."""
    found: list[str] = []
    size = len(xml.encode("utf-8"))
    if size > max_bytes:
        found.append(f"file is {size} bytes, over the budget of {max_bytes}")
    if not xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n'):
        found.append("no UTF-8 XML declaration")
    if ANSI.search(xml):
        found.append("ANSI escape sequence in the file")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        return [*found, f"not well-formed: {exc}"]
    if root.tag != "testsuites":
        return [*found, f"root is <{root.tag}>, not <testsuites>"]
    if set(root.attrib) != ROOT_ATTRS:
        found.append(f"testsuites attributes {sorted(root.attrib)}")
    if not TIME.match(root.get("time", "")):
        found.append(f"testsuites time {root.get('time')!r}")
    totals: Counter[str] = Counter()
    keys: Counter[tuple[str, str, str]] = Counter()
    for child in root:
        if child.tag != "testsuite":
            found.append(f"<{child.tag}> inside testsuites")
            continue
        _suite(child, found, totals, keys)
    for key in ("tests", "failures", "errors"):
        if root.get(key) != str(totals[key]):
            found.append(f"testsuites {key}={root.get(key)} but counted {totals[key]}")
    found += [f"GitLab key {key} used {n} times" for key, n in keys.items() if n > 1]
    return found


def _suite(
    suite: ET.Element,
    found: list[str],
    totals: Counter[str],
    keys: Counter[tuple[str, str, str]],
) -> None:
    name = suite.get("name", "")
    where = f"testsuite {name!r}"
    extra = set(suite.attrib) - SUITE_ATTRS - {"timestamp"}
    if extra or not set(suite.attrib) >= SUITE_ATTRS or not name:
        found.append(f"{where}: attributes {sorted(suite.attrib)}")
    if not TIME.match(suite.get("time", "")):
        found.append(f"{where}: time {suite.get('time')!r}")
    if suite.get("timestamp") is not None and not TIMESTAMP.match(suite.get("timestamp", "")):
        found.append(f"{where}: timestamp {suite.get('timestamp')!r}")
    tags = [c.tag for c in suite]
    order = {"properties": 0, "testcase": 1, "system-out": 2}
    if any(t not in order for t in tags) or [order[t] for t in tags if t in order] != sorted(
        order[t] for t in tags if t in order
    ):
        found.append(f"{where}: children {tags}")
    if tags.count("properties") > 1 or tags.count("system-out") > 1:
        found.append(f"{where}: repeated properties or system-out")
    for prop in suite.iter("property"):
        if not prop.get("name") or not prop.get("value"):
            found.append(f"{where}: property without name or value")
    counted: Counter[str] = Counter()
    for case in suite.findall("testcase"):
        counted["tests"] += 1
        state = _case(case, f"{where} testcase {case.get('name')!r}", found)
        counted[{"failed": "failures", "error": "errors", "skipped": "skipped"}.get(state, "")] += 1
        keys[(name, case.get("classname", ""), case.get("name", ""))] += 1
    for key in ("tests", "failures", "errors", "skipped"):
        if suite.get(key) != str(counted[key]):
            found.append(f"{where}: {key}={suite.get(key)} but counted {counted[key]}")
        totals[key] += counted[key]


def _case(case: ET.Element, where: str, found: list[str]) -> str:
    if set(case.attrib) != CASE_ATTRS or not all(case.get(a) for a in CASE_ATTRS):
        found.append(f"{where}: attributes {sorted(case.attrib)}")
    if not TIME.match(case.get("time", "")):
        found.append(f"{where}: time {case.get('time')!r}")
    tags = [c.tag for c in case]
    verdicts = [t for t in tags if t in VERDICT]
    if len(verdicts) > 1 or (verdicts and tags[0] != verdicts[0]):
        found.append(f"{where}: verdict elements {tags}")
    if tags.count("system-out") > 1 or ("system-out" in tags and tags[-1] != "system-out"):
        found.append(f"{where}: system-out not once and last: {tags}")
    if any(t not in (*VERDICT, *RETRY, "system-out") for t in tags):
        found.append(f"{where}: unexpected children {tags}")
    for element in case:
        if element.tag in VERDICT:
            message, type_ = element.get("message", ""), element.get("type", "")
            if not message or not type_:
                found.append(f"{where}: <{element.tag}> without message or type")
            if not (element.text or "").strip():
                found.append(f"{where}: <{element.tag}> without text (GitLab shows a raw hash)")
            if type_ and message.lower().startswith(type_.lower()):
                found.append(f"{where}: message repeats its type: {type_}: {message}")
        elif element.tag in RETRY:
            if not element.get("type"):
                found.append(f"{where}: <{element.tag}> without type")
            children = [c.tag for c in element]
            expected = [t for t in RETRY_CHILDREN if t in children]
            if children != expected or (element.text or "").strip():
                found.append(f"{where}: <{element.tag}> children {children}")
    return status(case)
