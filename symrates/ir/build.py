"""``build``: any model description → :class:`SymbolicSystem`."""

from __future__ import annotations

from typing import Any

from ..errors import ModelDefinitionError
from ..frontend.circuits import CircuitTemplate
from ..frontend.templates import EdgeTemplate, NodeTemplate, OperatorTemplate
from .delays import expand_distributed_delays
from .graph import build_groups, flatten_circuit
from .system import SymbolicSystem

__all__ = ["build", "as_circuit"]


def as_circuit(model: Any) -> CircuitTemplate:
    """Wrap an operator or node template into a one-node circuit; load references."""
    if isinstance(model, str):
        from ..frontend.yaml_io import load

        model = load(model)
    if isinstance(model, OperatorTemplate):
        model = NodeTemplate(model.name, [model], description=model.description)
    if isinstance(model, EdgeTemplate):
        raise ModelDefinitionError(
            f"EdgeTemplate {model.name!r} cannot be built on its own: use it on an edge of a "
            f"CircuitTemplate."
        )
    if isinstance(model, NodeTemplate):
        return CircuitTemplate(model.name, {model.name: model}, description=model.description)
    if isinstance(model, CircuitTemplate):
        return model
    raise ModelDefinitionError(
        f"Cannot build a model from {type(model).__name__} {model!r}: expected a template, a "
        f"reference such as 'jansen_rit.JRC', a SymbolicSystem or a Network."
    )


def build(model: Any) -> SymbolicSystem:
    """Build the symbolic system of a model.

    Parameters
    ----------
    model : template, str, SymbolicSystem or Network
        An Operator/Node/CircuitTemplate, a library or YAML reference (``"jansen_rit.JRC"``,
        ``"models.yaml:MyCircuit"``), or an already built system (returned as is).

    Returns
    -------
    SymbolicSystem

    Examples
    --------
    >>> import symrates as sr
    >>> system = sr.build("jansen_rit.JRC")
    >>> len(system.states)
    8
    """
    if isinstance(model, SymbolicSystem):
        return model
    to_system = getattr(model, "to_system", None)
    if callable(to_system):          # networks build themselves
        return to_system()
    circuit = as_circuit(model)
    graph = flatten_circuit(circuit)
    groups, couplings = build_groups(graph)
    system = SymbolicSystem(circuit.name, tuple(groups), tuple(couplings),
                            description=circuit.description)
    return expand_distributed_delays(system)
