"""End-to-end fixtures: the simulator subprocess, and a scheduler backend per test."""

from tests.integration.simulator_fixture import Simulator, simulator

__all__ = ["Simulator", "simulator"]
