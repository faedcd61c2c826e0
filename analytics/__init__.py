"""Clinical analytics: pure functions over numpy arrays.

Times are int64 microseconds since the Unix epoch (as ``core.timeseries.Series``
gives them); values are float64 in the canonical unit of the metric (glucose
mg/dL, blood pressure mmHg, weight kg, SpO2 %).  Every result is a frozen
dataclass that carries its evidence (which days, which values) so that a nudge
built on it can explain itself.  Nothing here does I/O, except ``report`` (it
writes the file it is asked to write) and ``population`` (it reads through the
``TimeSeriesStore`` interface it is given).

Clinical sources are cited next to each formula; see docs/CLINICAL.md and
docs/ANALYTICS.md.
"""
