"""A local simulator of the Checkly Public API test-session endpoints.

Used by the test-suite, by ``checkly-gate demo`` and by ``checkly-gate simulate``: sessions
progress over real time according to a Scenario (builtin or YAML), optionally with injected
faults (rate limits, resets, garbage bodies...). It also serves the trigger (checks matched by
tags or ids), cancel and error-group endpoints. See docs/scenarios.md.
"""

from checkly_gate.simulator.builtin import BUILTIN_SCENARIOS, load_scenario
from checkly_gate.simulator.model import CheckSpec, Fault, Scenario, ScenarioError
from checkly_gate.simulator.server import RecordedRequest, Simulator, TriggeredSession

__all__ = [
    "BUILTIN_SCENARIOS",
    "CheckSpec",
    "Fault",
    "RecordedRequest",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "TriggeredSession",
    "load_scenario",
]
