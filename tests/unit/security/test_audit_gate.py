"""The dependency audit gate: fails on fixable vulnerabilities, reports the others, and fails
clearly when the vulnerability service cannot be reached."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _gate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_gate", ROOT / "deploy" / "audit_gate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_gate"] = module
    spec.loader.exec_module(module)
    return module


gate = _gate()


def _report(*vulns: tuple[str, list[str]]) -> dict[str, object]:
    return {
        "dependencies": [
            {"name": "pkg", "version": "1.0", "vulns": [
                {"id": vid, "fix_versions": fixes, "description": f"{vid} is bad"}
                for vid, fixes in vulns
            ]},
            {"name": "clean", "version": "2.0", "vulns": []},
        ]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("vulns", "status"),
    [((), 0), ((("V-1", []),), 0), ((("V-1", []), ("V-2", ["1.1"])), 1), ((("V-2", ["1.1"]),), 1)],
)
def test_only_a_vulnerability_with_a_fix_fails_the_audit(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    vulns: tuple[tuple[str, list[str]], ...],
    status: int,
) -> None:
    monkeypatch.setattr(gate, "audit", lambda *args: _report(*vulns))
    assert gate.main(["--lock", str(tmp_path / "lock.txt")]) == status
    out = capsys.readouterr().out
    assert all(vid in out for vid, _ in vulns)  # every finding reported, failing or not
    assert ("VULNERABLE" in out) == any(fixes for _, fixes in vulns)
    pins = (tmp_path / "lock.txt").read_text().splitlines()
    assert pins and all("==" in pin or " @ " in pin for pin in pins)
    assert not any(pin.lower().startswith("verdict==") for pin in pins)  # the project is ours


def test_an_unreachable_service_fails_clearly_and_quickly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # a proxy on a port nothing listens on: every request to the service is refused at once
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    status = gate.main(["--lock", str(tmp_path / "lock.txt"), "--timeout-s", "2"])
    assert status == gate.NOT_RUN
    assert "FAILED to run" in capsys.readouterr().err
