"""The shipped deployment files: docker-compose.yml is valid Compose and keeps the simulator's
unauthenticated control API off the network; the image installs the wheel and runs unprivileged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def _queues(argv: list[str]) -> set[str]:
    return set(argv[argv.index("-Q") + 1].split(",")) if "-Q" in argv else set()


def test_every_queue_a_task_is_sent_to_is_consumed_by_every_deployment() -> None:
    # A queue nobody consumes fills up silently: its task (e.g. the viewer samples) never runs.
    from worker.celery_app import app
    from worker.cli.run import worker_children
    from worker.queues import QUEUE

    routed = {QUEUE} | {route["queue"] for route in app.conf.task_routes.values()}
    procfile = [
        line.split(":", 1)[1].split() for line in (REPO / "Procfile").read_text().splitlines() if line
    ]
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    compose = [s["command"] for s in services.values() if isinstance(s.get("command"), list)]
    children = [child.argv for child in worker_children(1, 4, "info")]
    for name, argvs in (("Procfile", procfile), ("docker-compose.yml", compose), ("onair run", children)):
        consumed = set().union(*(_queues(argv) for argv in argvs))
        assert routed <= consumed, (name, routed - consumed)
