"""Interoperability mappings: FHIR R4 resources, CSV export and import, Home Assistant.

Pure functions over core types (no network, no store, no clock of their own),
so that the dashboard, the CLI and the Home Assistant bridge share one mapping.
docs/INTEROP.md describes the formats and the choices behind them.
"""
