"""Scenario files for CI: steps with expected answers, played against a real gateway.

The format is described in :mod:`simulators.scenario.model`, the matching
rules in :mod:`simulators.scenario.match`; :mod:`simulators.scenario.runner`
plays a scenario with the library's simulators.
"""

from simulators.scenario.model import Scenario, ScenarioError, load_scenario, parse_scenario
from simulators.scenario.runner import ScenarioRunner, StepResult

__all__ = [
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "StepResult",
    "load_scenario",
    "parse_scenario",
]
