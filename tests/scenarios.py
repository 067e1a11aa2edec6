"""Shared small reference models with known answers, used across the test tree."""

from __future__ import annotations

import symrates as sr

#: A leaky integrator r' = (-r + I_ext)/tau with an input: the simplest node.
LEAKY = sr.OperatorTemplate(
    "li",
    ["r' = (-r + I_ext) / tau"],
    {"r": "output(0.0)", "I_ext": "input(0.0)", "tau": 2.0},
)


def two_leaky_chain(weight: float = 3.0, delay: float = 0.0) -> sr.CircuitTemplate:
    """a -> b with weight: b' = (-b + weight * a)/tau."""
    node = sr.NodeTemplate("LI", [LEAKY])
    return sr.CircuitTemplate(
        "chain", {"a": node, "b": node},
        [("a/li/r", "b/li/I_ext", None, {"weight": weight, "delay": delay})],
    )
