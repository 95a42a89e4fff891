"""onair installed from its wheel, away from any source tree, migrates and runs.

The wheel is built the way a release would be (sdist, then the wheel from the sdist) and installed into
a fresh virtualenv under tmp_path; every command runs with that venv's `onair` and its working directory
outside the repository.

Installing the wheel's dependencies from the package index would take minutes on CI and need the
network, so the venv gets them from the test's own environment instead: for each distribution that
onair's metadata requires (followed through their own requirements and extras), its top-level files
and its .dist-info are linked into the venv's site-packages. Only declared dependencies are linked, so
an import the wheel does not declare still fails here as it would for a user; the editable onair of
the source tree is never on the venv's path (the test asserts where `worker` comes from).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from worker.store import migrate

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.processes


@dataclass(frozen=True)
class Installed:
    venv: Path
    wheel: Path

    def onair(self, *args: str, cwd: Path, database_url: str = "") -> subprocess.CompletedProcess[str]:
        """`onair ARGS` as a user of this venv runs it: on PATH, no ONAIR_* setting but the database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONAIR_") and k != "PYTHONPATH"}
        env.update(PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", ONAIR_DATA_DIR=str(cwd))
        if database_url:
            env["ONAIR_DATABASE_URL"] = database_url
        return subprocess.run(
            ["onair", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
        )


def _dependencies(root: str) -> list[metadata.Distribution]:
    """Every installed distribution that `root` needs, with the extras its requirements ask for."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        dist = metadata.distribution(name)
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((req.name, frozenset(req.extras)))
    del found[canonicalize_name(root)]
    return list(found.values())


def _link_dependencies(site_packages: Path) -> None:
    for dist in _dependencies("onair"):
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD to link from"
        tops = {f.parts[0] for f in dist.files if f.parts[0] not in ("..", "__pycache__")}
        for top in tops:
            target = site_packages / top
            if not target.exists():
                target.symlink_to(Path(str(dist.locate_file(top))))


def _run(*cmd: str | Path, cwd: Path) -> None:
    done = subprocess.run(list(map(str, cmd)), cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    dist_dir = tmp_path_factory.mktemp("dist")
    # No build isolation: setuptools and build come with the dev dependencies, so no download here.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist_dir, REPO, cwd=dist_dir)
    (wheel,) = dist_dir.glob("onair-*.whl")

    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv)
    venv_python = venv / "bin" / "python"
    purelib = subprocess.run(
        [venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _link_dependencies(Path(purelib))
    # --no-index: pip finds every dependency already installed (linked above) and fetches nothing.
    _run(sys.executable, "-m", "pip", "--python", venv_python, "install", "--no-index", wheel, cwd=venv)
    yield Installed(venv, wheel)


def test_the_wheel_carries_every_migration(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    shipped = {n.removeprefix("worker/migrations/") for n in names if n.startswith("worker/migrations/")}
    in_tree = {
        str(p.relative_to(REPO / "migrations"))
        for p in (REPO / "migrations").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert in_tree <= shipped
    assert "versions/0001_initial_schema.py" in shipped


def test_the_wheel_carries_the_pages_templates_and_static_files(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    web = REPO / "worker" / "web"
    in_tree = {
        str(p.relative_to(REPO))
        for folder in ("templates", "static")
        for p in (web / folder).rglob("*")
        if p.is_file()
    }
    assert {"worker/web/templates/base.html", "worker/web/static/style.css"} <= in_tree
    assert in_tree <= names


def test_onair_runs_from_the_wheel_not_from_the_source_tree(installed: Installed, tmp_path: Path) -> None:
    code = "import worker.store.migrate as m; print(m.migrations_dir())"
    where = subprocess.run(
        [installed.venv / "bin" / "python", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.venv)

    shown = installed.onair("--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Runs FastPix live streams on schedule" in shown.stdout
    for command in ("db", "doctor", "run", "api"):
        assert f" {command} " in shown.stdout


def _upgrade_then_doctor(installed: Installed, url: str, cwd: Path) -> None:
    head = migrate.head_revision()

    upgraded = installed.onair("db", "upgrade", database_url=url, cwd=cwd)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip().endswith(f": schema at {head}")
    assert "error" not in upgraded.stderr

    doctor = installed.onair("doctor", "--only", "database", database_url=url, cwd=cwd)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.startswith("ok   database")
    assert f"at head {head}" in doctor.stdout


def test_db_upgrade_and_doctor_on_sqlite(installed: Installed, tmp_path: Path) -> None:
    _upgrade_then_doctor(installed, f"sqlite:///{tmp_path}/onair.db", tmp_path)


@pytest.mark.postgres
def test_db_upgrade_and_doctor_on_postgresql(installed: Installed, postgres_url: str, tmp_path: Path) -> None:
    _upgrade_then_doctor(installed, postgres_url, tmp_path)
