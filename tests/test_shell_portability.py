"""The Action's shell steps on every runner OS, the templates' scripts on any POSIX sh.

GitHub runs `shell: bash` steps with the runner's bash: 5.x on Linux, Git Bash (5.x, MSYS
paths) on Windows, and bash 3.2 on macOS. No bash 3.2 installs here (Debian ships only 5.x, and
neither PyPI nor npm has one), so bash-3.2 compatibility is checked statically:
- shellcheck (`--shell=bash` for the Action's steps, `--shell=sh` for the GitLab scripts and
  .ci/run as bash) finds quoting and portability bugs;
- a scan refuses the syntax bash 3.2 does not have (associative arrays, mapfile, case
  modification, `;&`, `|&`, `&>>`, negative indexes, `[[ -v`, namerefs, `${x@Q}`, ...) and
  unguarded `"${array[@]}"` of arrays that may be empty (an error under `set -u` before 4.4).
The runs themselves (tests/test_action.py) use bash 5 with the same `--noprofile --norc -eo
pipefail` GitHub uses, with paths holding spaces and Windows-style backslashes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tools import tool

ROOT = Path(__file__).resolve().parents[1]

# bash >= 4 syntax, with what to write instead (bash 3.2 on macOS runners).
BASH4_ONLY = {
    r"\b(declare|local|typeset)\s+-[a-zA-Z]*[An]": "associative arrays / namerefs (bash 4)",
    r"\b(mapfile|readarray)\b": "mapfile/readarray (bash 4): use a while-read loop",
    r"\$\{[#!]?[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?(,,?|\^\^?)": "case modification (bash 4)",
    r"\$\{[A-Za-z_][A-Za-z0-9_]*@[QEPAa]\}": "${x@Q} transformations (bash 4.4)",
    r";;&|;&": "case fall-through (bash 4)",
    r"\|&": "|& (bash 4): use 2>&1 |",
    r"&>>": "&>> (bash 4): use >>file 2>&1",
    r"\bcoproc\b": "coproc (bash 4)",
    r"\[\[\s+-v\s": "[[ -v (bash 4.2)",
    r"\$\{[A-Za-z_][A-Za-z0-9_]*\[-\d+\]\}": "negative array index (bash 4.3)",
    r"\bwait\s+-n\b": "wait -n (bash 4.3)",
    r"\$EPOCH(SECONDS|REALTIME)": "EPOCHSECONDS (bash 5)",
    r"printf\s+'?%\(": "printf %(...)T (bash 4.2)",
    r"=~\s+[^$\s\"'][^\s]*[(|]": "a regex literal with ( or | after =~: keep it in a variable",
}


def action_scripts() -> list[tuple[str, str]]:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    steps = action["runs"]["steps"]
    return [(s["name"], s["run"]) for s in steps if "run" in s and s.get("shell") == "bash"]


def gitlab_scripts() -> list[tuple[str, str]]:
    scripts = []
    for path in (ROOT / "templates").rglob("*.yml"):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for name, job in (document or {}).items():
                if isinstance(job, dict) and "script" in job:
                    scripts.append((f"{path.name}:{name}", "\n".join(job["script"])))
    return scripts


def bash4_syntax(script: str) -> list[str]:
    """The bash-4-only constructs in ``script`` (comments and heredoc bodies excluded)."""
    found = []
    code = re.sub(r"<<'(\w+)'\n.*?\n\s*\1\n", "\n", script, flags=re.S)  # quoted heredocs
    for number, line in enumerate(code.splitlines(), 1):
        stripped = re.sub(r"(^|\s)#.*$", "", line)
        for pattern, why in BASH4_ONLY.items():
            if re.search(pattern, stripped):
                found.append(f"line {number}: {why}: {line.strip()}")
    # "${a[@]}" of a possibly empty array breaks `set -u` on bash < 4.4; guard it as
    # ${a[@]+"${a[@]}"} unless the array starts with a literal element (args=(run ...)).
    for name in set(re.findall(r'(?<!\+)"\$\{([A-Za-z_]\w*)\[@\]\}"', code)):
        if not re.search(rf"\b{name}=\(\s*[A-Za-z-]", code):
            found.append(f'"${{{name}[@]}}" may be empty: write ${{{name}[@]+"${{{name}[@]}}"}}')
    return found


@pytest.mark.parametrize("name,script", action_scripts(), ids=[n for n, _ in action_scripts()])
def test_action_steps_have_no_bash4_syntax(name: str, script: str) -> None:
    assert bash4_syntax(script) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "declare -A seen",
        "mapfile -t lines < f",
        'echo "${name,,}"',
        "case $x in a) echo ;& b) ;; esac",
        "cmd |& tee log",
        "[[ -v FOO ]]",
        "[[ $x =~ ^(a|b)$ ]]",
        'echo "${arr[-1]}"',
        'for x in "${items[@]}"; do :; done',
    ],
)
def test_the_scan_catches_bash4_syntax(snippet: str) -> None:
    assert bash4_syntax(snippet), snippet


def test_the_scan_accepts_bash32_idioms() -> None:
    ok = 'args=(run)\nargs+=("--x")\n"$x" "${args[@]}"\nfor i in ${ids[@]+"${ids[@]}"}; do :; done'
    assert bash4_syntax(ok) == []


def shellcheck(shell: str, script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    checker = tool("shellcheck")
    if checker is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    path = tmp_path / "script.sh"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        [checker, f"--shell={shell}", "--severity=style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name,script", action_scripts(), ids=[n for n, _ in action_scripts()])
def test_action_steps_pass_shellcheck(name: str, script: str, tmp_path: Path) -> None:
    proc = shellcheck("bash", script, tmp_path)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("name,script", gitlab_scripts(), ids=[n for n, _ in gitlab_scripts()])
def test_gitlab_scripts_pass_shellcheck_as_posix_sh(name: str, script: str, tmp_path: Path) -> None:
    proc = shellcheck("sh", script, tmp_path)
    assert proc.returncode == 0, proc.stdout


def test_ci_run_passes_shellcheck(tmp_path: Path) -> None:
    proc = shellcheck("bash", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), tmp_path)
    assert proc.returncode == 0, proc.stdout
