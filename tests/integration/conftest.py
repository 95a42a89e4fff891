"""Integration fixtures: a real FastPix simulator process over real HTTP."""

from tests.integration.simulator_fixture import Simulator, simulator

__all__ = ["Simulator", "simulator"]
