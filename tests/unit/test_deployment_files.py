"""The shipped deployment files: docker-compose.yml is valid Compose and keeps the simulator's
unauthenticated control API off the network; the image installs the wheel and runs unprivileged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"


def test_the_compose_file_is_valid_against_the_compose_spec() -> None:
    # check-jsonschema ships the compose-spec JSON schema, so this needs no network and no Docker.
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_simulator_is_published_on_loopback_only() -> None:
    # Its /_sim control API has no authentication and returns stream keys.
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    ports = services["simulator"]["ports"]
    assert ports
    assert all(str(port).startswith("127.0.0.1:") for port in ports)


def test_the_image_installs_the_wheel_and_runs_as_an_unprivileged_user() -> None:
    final_stage = DOCKERFILE.read_text().rsplit("\nFROM ", 1)[-1].splitlines()
    installs = [line for line in final_stage if "pip install" in line]
    assert installs
    assert all(".whl" in line and " -e " not in line and "--editable" not in line for line in installs)
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def _procfile() -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines() if ": " in line)


def _started(argv: list[str]) -> list[list[str]]:
    """The Celery command lines a deployment's command runs: `onair worker` starts act workers."""
    from worker.cli.run import act_workers

    if argv[:2] == ["onair", "worker"]:
        return [child.argv for child in act_workers(2, 4, "info")]
    return [argv]


def test_the_procfile_and_compose_run_the_same_act_workers_one_per_cpu() -> None:
    # A Python worker is one GIL: one process per core is what lets the act path use the machine.
    from worker.cli.run import act_workers

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert (
        _procfile()["worker"].split()
        == services["worker"]["command"]
        == ["onair", "worker", "--log-level", "info"]
    )
    assert "deploy" not in services["worker"]
    workers = act_workers(2, 32, "info")
    nodes = [argv[argv.index("-n") + 1] for argv in (child.argv for child in workers)]
    assert len(set(nodes)) == 2, nodes
    assert [child.env is None for child in workers] == [True, False], "only the first serves the metrics port"


def _queues(argv: list[str]) -> set[str]:
    return set(argv[argv.index("-Q") + 1].split(",")) if "-Q" in argv else set()


def test_every_queue_a_task_is_sent_to_is_consumed_by_every_deployment() -> None:
    # A queue nobody consumes fills up silently: its task (e.g. the viewer samples) never runs.
    from worker.celery_app import app
    from worker.cli.run import worker_children
    from worker.queues import QUEUE

    routed = {QUEUE} | {route["queue"] for route in app.conf.task_routes.values()}
    procfile = [argv for line in _procfile().values() for argv in _started(line.split())]
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    compose = [
        argv
        for s in services.values()
        if isinstance(s.get("command"), list)
        for argv in _started(s["command"])
    ]
    children = [child.argv for child in worker_children(1, 4, "info")]
    for name, argvs in (("Procfile", procfile), ("docker-compose.yml", compose), ("onair run", children)):
        consumed = set().union(*(_queues(argv) for argv in argvs))
        assert routed <= consumed, (name, routed - consumed)


def _arenas_seen_by_a_child(tmp_path: Path) -> str:
    from worker.cli.run import Child

    seen = tmp_path / "arenas"
    probe = "import os, sys; open(sys.argv[1], 'w').write(os.environ.get('MALLOC_ARENA_MAX', 'unset'))"
    child = Child("probe", [sys.executable, "-c", probe, str(seen)])
    child.start()
    assert child.proc is not None and child.proc.wait(timeout=30) == 0
    return seen.read_text()


def test_every_long_running_process_caps_mallocs_arenas_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # glibc's default (8 arenas per core) let a busy night's RSS grow for hours, one arena at a time.
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert _arenas_seen_by_a_child(tmp_path) == "2", "onair run / onair worker children"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert _arenas_seen_by_a_child(tmp_path) == "8", "an operator's own setting wins"
    procfile = _procfile()
    for role in ("planner", "beat"):
        assert procfile[role].startswith("env MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} "), role
    assert "onair worker" in procfile["worker"]
    compose = yaml.safe_load(COMPOSE.read_text())
    assert compose["x-onair"]["environment"]["MALLOC_ARENA_MAX"] == "${MALLOC_ARENA_MAX:-2}"
    services = compose["services"]
    for name in ("worker", "planner", "beat"):
        assert services[name]["environment"]["MALLOC_ARENA_MAX"] == "${MALLOC_ARENA_MAX:-2}", name
