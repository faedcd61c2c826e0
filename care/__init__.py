"""The care programme: what patients and their care team make together.

Plans of goals (``plans``, ``goals``), the self-assessment (``selfassessment``), peer
groups (``groups``, ``grouping``), and the state of alerts and nudges a person answers
(``alerts``). The dashboard edits these; the coach service evaluates them on its
schedule. Data access is here, beside the rules of the programme; nothing here sends.
"""
