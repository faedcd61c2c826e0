"""The composition root: the `hearth` CLI builds real objects and wires the services."""
