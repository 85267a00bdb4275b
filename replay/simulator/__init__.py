"""The transaction simulator behind ``verdict simulate``.

The handbook's generative process (customers and terminals on a grid, Poisson daily payments,
three fraud scenarios) extended with the scenarios the engine's other jobs need: online
purchases with devices, travel, account takeover, shared devices, salaries, medical bills,
growing deposits, money leaving for another bank, customers without marketing consent.
See :data:`SCENARIOS` for each scenario and the meaning of its rate.

>>> import tempfile
>>> from pathlib import Path
>>> config = SimulationConfig(customers=30, terminals=60, days=3, seed=7)
>>> with tempfile.TemporaryDirectory() as folder:
...     summary = simulate(config, Path(folder), progress=False)
...     files = sorted(p.name for p in Path(folder).iterdir())
>>> files
['customers.jsonl', 'labels.jsonl', 'summary.json', 'transactions.jsonl']
"""

from replay.simulator.config import (
    HANDBOOK,
    SCENARIOS,
    Scenario,
    SimulationConfig,
    SimulationConfigError,
    parse_duration,
    parse_rates,
    parse_scenarios,
)
from replay.simulator.run import ScenarioCount, SimulationSummary, simulate

__all__ = [
    "HANDBOOK",
    "SCENARIOS",
    "Scenario",
    "ScenarioCount",
    "SimulationConfig",
    "SimulationConfigError",
    "SimulationSummary",
    "parse_duration",
    "parse_rates",
    "parse_scenarios",
    "simulate",
]
