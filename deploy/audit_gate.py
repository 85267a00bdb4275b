"""``make audit``: pip-audit over the locked dependencies, failing on a vulnerability with a fix.

The lock is what is installed (``pip freeze`` of the environment, the local project left out),
so it is exactly what the tests ran with. pip-audit asks its vulnerability service (PyPI by
default) about each pinned version. Then:

- a known vulnerability with a fixed version: the audit fails (bump the pin in pyproject.toml);
- a known vulnerability with no fix yet: reported, the audit passes (nothing to upgrade to);
- the service cannot be reached or pip-audit fails: the audit fails and says so, within
  ``--deadline-s`` (it never hangs a CI job).

Exit status: 0 clean (or only unfixable vulnerabilities), 1 fixable vulnerabilities, 2 the
audit could not run.

>>> report = {"dependencies": [{"name": "a", "version": "1", "vulns": [
...     {"id": "X-1", "fix_versions": ["1.1"], "description": "bad"},
...     {"id": "X-2", "fix_versions": [], "description": "worse"}]}]}
>>> fixable, unfixable = classify(report)
>>> [(v.package, v.id, v.fixes) for v in fixable], [v.id for v in unfixable]
([('a', 'X-1', ('1.1',))], ['X-2'])
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Exit statuses.
CLEAN, FIXABLE, NOT_RUN = 0, 1, 2


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one pinned package."""

    package: str
    version: str
    id: str
    fixes: tuple[str, ...]
    description: str

    def line(self) -> str:
        """One line for the report."""
        fix = f"fixed in {', '.join(self.fixes)}" if self.fixes else "no fix released"
        text = " ".join(self.description.split())[:300]
        return f"{self.package} {self.version}: {self.id} ({fix}) {text}"


def classify(report: dict[str, Any]) -> tuple[list[Finding], list[Finding]]:
    """The findings of a pip-audit JSON report: (with a fix, without one)."""
    fixable: list[Finding] = []
    unfixable: list[Finding] = []
    for dependency in report.get("dependencies", []):
        for vuln in dependency.get("vulns", []):
            finding = Finding(
                dependency["name"],
                str(dependency.get("version", "?")),
                vuln["id"],
                tuple(vuln.get("fix_versions") or ()),
                vuln.get("description") or "",
            )
            (fixable if finding.fixes else unfixable).append(finding)
    return fixable, unfixable


def lock(python: str, project: str) -> list[str]:
    """The pinned requirements installed for ``python``, without the local project."""
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    own = project.lower().replace("_", "-")
    return [
        line
        for line in frozen
        if line and not line.startswith("#") and line.split("==")[0].lower() != own
    ]


def audit(lock_file: Path, timeout_s: float, deadline_s: float) -> dict[str, Any]:
    """Run pip-audit on ``lock_file``; its JSON report.

    Raises
    ------
    RuntimeError
        pip-audit did not produce a report: the service unreachable, the deadline passed...
    """
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "audit.json"
        command = [
            sys.executable, "-m", "pip_audit", "--requirement", str(lock_file), "--no-deps",
            "--disable-pip", "--desc", "on", "--format", "json", "--output", str(output),
            "--timeout", f"{timeout_s:g}", "--progress-spinner", "off",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, check=False, capture_output=True, text=True, timeout=deadline_s
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"pip-audit did not finish within {deadline_s:g} s: is the vulnerability "
                "service (pypi.org) reachable?"
            ) from None
        if not output.is_file() or not output.stat().st_size:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"pip-audit could not audit (exit {done.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(output.read_text())
        return result


def main(argv: list[str] | None = None) -> int:
    """Audit, print the findings, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, required=True, help="Where to write the lock file.")
    parser.add_argument("--project", default="verdict", help="The local project (not audited).")
    parser.add_argument("--timeout-s", type=float, default=20.0, help="Socket timeout.")
    parser.add_argument("--deadline-s", type=float, default=300.0, help="Whole audit, at most.")
    args = parser.parse_args(argv)
    pins = lock(sys.executable, args.project)
    args.lock.write_text("\n".join(pins) + "\n")
    try:
        report = audit(args.lock, args.timeout_s, args.deadline_s)
    except RuntimeError as error:
        print(f"audit: FAILED to run: {error}", file=sys.stderr)
        return NOT_RUN
    fixable, unfixable = classify(report)
    for finding in unfixable:
        print(f"audit: known, no fix yet (not failing): {finding.line()}")
    for finding in fixable:
        print(f"audit: VULNERABLE, fix available: {finding.line()}")
    print(
        f"audit: {len(pins)} locked dependencies ({args.lock}); "
        f"{len(fixable)} fixable, {len(unfixable)} without a fix"
    )
    return FIXABLE if fixable else CLEAN


if __name__ == "__main__":
    sys.exit(main())
