"""The Dockerfile: a slim base, a non-root user, a health check that works with a token, and
every package of the project in the image."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest

from decisions.api import PUBLIC_ROUTES, ApiSettings
from tests.unit.deploy.compose_file import DOCKERFILE, DOCKERIGNORE, REPO
from tests.unit.deploy.dockerfile import Stage, exec_form, stages


@pytest.fixture(scope="module")
def final() -> Stage:
    return stages(DOCKERFILE)[-1]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_image_is_built_on_a_slim_python_the_project_supports(final: Stage) -> None:
    image, _, tag = final.base.partition(":")
    assert image in ("python", "docker.io/library/python"), final.base
    assert "slim" in tag, "a slim base: no compilers, no docs in the runtime image"
    match = re.match(r"(\d+)\.(\d+)", tag)
    assert match, tag
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    minimum = re.search(r">=\s*(\d+)\.(\d+)", project["requires-python"])
    assert minimum
    assert (int(match[1]), int(match[2])) >= (int(minimum[1]), int(minimum[2]))


def test_the_engine_runs_as_a_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    assert user, "the final stage sets no USER: the engine would run as root"
    name = user.split(":")[0]
    assert name not in ("root", "0")


def test_the_health_check_probes_a_public_route_on_the_api_port(final: Stage) -> None:
    check = final.last("HEALTHCHECK")
    assert check and "NONE" not in check.split()
    command = check.partition(" CMD ")[2]
    probe = exec_form(command)
    assert probe, "exec form: no shell needed to run the probe"
    route = re.search(r"http://127\.0\.0\.1:%s(/[A-Za-z]+)'", probe[-1])
    assert route and route[1] in PUBLIC_ROUTES, "a probe behind the token would always fail"
    assert f"'{ApiSettings().port}'" in probe[-1], "falls back to the API's default port"
    assert str(ApiSettings().port) in (final.last("EXPOSE") or "")


def test_the_entrypoint_is_the_verdict_command(final: Stage) -> None:
    assert exec_form(final.last("ENTRYPOINT") or "") == ["verdict"]
    assert exec_form(final.last("CMD") or "") == ["serve"]


def test_every_package_of_the_project_is_copied_into_the_build() -> None:
    build = stages(DOCKERFILE)[0]
    copied = {value.split()[0].rstrip("/") for value in build.all("COPY")}
    tool = _pyproject()["tool"]
    assert isinstance(tool, dict)
    patterns = tool["setuptools"]["packages"]["find"]["include"]
    packages = {
        path.name
        for path in REPO.iterdir()
        if (path / "__init__.py").exists() and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    }
    assert packages and packages <= copied, f"not copied: {sorted(packages - copied)}"
    assert {"pyproject.toml", "README.md"} <= copied  # the build reads both


def test_the_build_context_leaves_out_the_venv_and_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv"} <= set(patterns)
    for stage in stages(DOCKERFILE):
        for value in stage.all("COPY"):
            if value.startswith("--from"):
                continue
            source = value.split()[0].rstrip("/")
            ignored = [p for p in patterns if fnmatch.fnmatch(source, p.rstrip("/"))]
            assert not ignored, f"COPY {source} is excluded by .dockerignore ({ignored})"
            assert (REPO / source).exists(), f"COPY {source}: no such file"
