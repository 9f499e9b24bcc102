"""The README and docs/ as a reader uses them (issue 19.8): every relative link and #anchor
resolves, every YAML block parses, every shell block is valid shell, and every recipe says where
each variable it uses comes from.

Pages: README.md and every markdown file under docs/. Code blocks are fenced with ```; the fence's
first word is the language (``yaml``/``yml``, ``sh``/``bash``, ...).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def blocks(page: Path) -> list[tuple[str, str, int]]:
    """(language, text, line number of the fence) of each fenced block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [
        (m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def prose(page: Path) -> str:
    """``page`` without its fenced blocks."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but ``-`` and ``_`` dropped,
    each blank a ``-`` (so ``Find ...: `wait --commit``` -> ``find-...-wait---commit``)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(page).splitlines():
        m = re.match(r"^#{1,6} (.+?)\s*#*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


# ------------------------------------------------------------------------------------ links


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"^[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {page_id(dest)}")
    assert not broken, broken


def test_the_readme_is_read_in_five_minutes() -> None:
    """Under 400 lines; the first CI recipe (the GitHub Action's workflow) within 150."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 400, len(lines)
    first_yaml = next(i for i, line in enumerate(lines) if line.startswith("```yaml"))
    assert first_yaml < 150 and "uses: checkly-gate/checkly-gate@" in "\n".join(
        lines[first_yaml : first_yaml + 60]
    )
    assert any(line.startswith("## GitLab CI") for line in lines)
    assert any(line.startswith("## Exit codes") for line in lines)


# ------------------------------------------------------------------------------- code blocks

YAML_BLOCKS = [
    pytest.param(text, id=f"{page_id(page)}:{line}")
    for page in PAGES
    for lang, text, line in blocks(page)
    if lang in ("yaml", "yml")
]
SHELL_BLOCKS = [
    pytest.param(lang, text, id=f"{page_id(page)}:{line}")
    for page in PAGES
    for lang, text, line in blocks(page)
    if lang in ("sh", "bash", "shell")
]


@pytest.mark.parametrize("text", YAML_BLOCKS)
def test_every_yaml_block_parses(text: str) -> None:
    # a step list cut out of a workflow is indented as in its file: YAML reads it as is
    docs = list(yaml.safe_load_all(text))
    assert any(doc is not None for doc in docs)


@pytest.mark.parametrize(("lang", "text"), SHELL_BLOCKS)
def test_every_shell_block_is_valid_shell(lang: str, text: str) -> None:
    proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        return
    shell = "bash" if lang == "bash" else "sh"
    proc = subprocess.run(
        [shellcheck, f"--shell={shell}", "--severity=warning", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_two_first_commands_stay_the_first_two_sh_blocks() -> None:
    sh = [text for lang, text, _ in blocks(ROOT / "README.md") if lang == "sh"]
    assert sh[0].strip().endswith("checkly-gate demo") and sh[1].strip().endswith("pytest")


# --------------------------------------------------------------------- variables of a recipe

# What each CI system sets by itself (its documented predefined variables), by name prefix.
CI_PROVIDED: dict[str, tuple[str, ...]] = {
    "github": ("GITHUB_", "RUNNER_"),
    "gitlab": ("CI_", "GITLAB_"),
    "jenkins": ("BUILD_", "JOB_", "JENKINS_", "GIT_COMMIT", "WORKSPACE"),
    "azure": ("Agent.", "Build.", "System.", "TF_BUILD"),
    "circleci": ("CIRCLE_",),
    "bitbucket": ("BITBUCKET_",),
    "buildkite": ("BUILDKITE_",),
    "shell": ("PWD", "HOME", "PATH"),
}
# Which CI systems a page's recipes run on.
PAGE_CI = {
    "docs/ci/jenkins.md": ("jenkins",),
    "docs/ci/azure-pipelines.md": ("azure",),
    "docs/ci/circleci.md": ("circleci",),
    "docs/ci/bitbucket-pipelines.md": ("bitbucket",),
    "docs/ci/buildkite.md": ("buildkite",),
}
# $NAME, ${NAME}, $$NAME (Buildkite's escape) and Azure's $(Name.Part) macros; lower-case names
# are a script's own locals (or jq's), not inputs of the recipe.
USE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)|\$\(([A-Za-z_][\w]*(?:\.\w+)*)\)")
DEFINE = r"(?:^|[\s{\-])(?:export\s+)?%s\s*(?::|=)"


def used_variables(page: Path) -> set[str]:
    return {
        a or b
        for lang, text, _ in blocks(page)
        if lang not in ("", "text", "console")
        for a, b in USE.findall(text)
    }


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_recipe_says_where_its_variables_come_from(page: Path) -> None:
    """Each variable a recipe reads is defined in it (an ``env:``/``variables:`` key, an
    assignment), set by the CI it runs on, or named in the page's text as an input."""
    systems = (*PAGE_CI.get(page_id(page), ("github", "gitlab")), "shell")
    provided = tuple(p for s in systems for p in CI_PROVIDED[s])
    code = "\n".join(text for _, text, _ in blocks(page))
    words = prose(page)
    missing = []
    for name in sorted(used_variables(page)):
        if name.startswith(provided):
            continue
        if re.search(DEFINE % re.escape(name), code, re.M):
            continue
        if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", words):
            continue
        missing.append(name)
    assert not missing, f"{page_id(page)} uses {missing} without defining or documenting them"
