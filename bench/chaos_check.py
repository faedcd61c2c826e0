"""The fault suite's verdict: what each honest source sent against every point stored,
per device and entry path; recovery times from the sources' confirmations; the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.chaos_sources import Key
from bench.chaos_stack import checksum

FAULTS = ("ingest_kill", "gateway_kill", "dashboard_kill", "broker_restart", "broker_kill",
          "influx_stop", "influx_kill", "hostile_takeover", "hostile_oversized",
          "hostile_flood", "hostile_malformed", "hostile_spoof")
Point = tuple[str, str, str, int, float]  # (metric, device, patient, time µs, value)


@dataclass
class PathTally:
    devices: int = 0
    sent: int = 0
    stored_rows: int = 0
    lost: int = 0
    not_sent: int = 0  # stored, but no honest source sent it (a spoof, a corruption)
    duplicated: int = 0
    wrong_patient: int = 0
    devices_wrong: int = 0  # count or checksum differs


def tally(expected: dict[str, dict[str, tuple[str, list[Key]]]], points: list[Point], *,
          hostile: tuple[str, str, list[Key]]) -> tuple[dict[str, PathTally], list[str], int]:
    """Per path, the tallies; the devices that fail; the hostile device's stored points."""
    stored: dict[str, list[tuple[Key, str]]] = {}
    for metric, device, patient, at, value in points:
        stored.setdefault(device, []).append(((metric, at, value), patient))
    paths: dict[str, PathTally] = {}
    failing: list[str] = []
    for path, devices in expected.items():
        t = paths[path] = PathTally(devices=len(devices))
        for device, (patient, keys) in devices.items():
            rows = stored.pop(device, [])
            if _count(t, keys, rows, patient):
                failing.append(device)
    hostile_id, hostile_patient, sent = hostile
    rows = stored.pop(hostile_id, [])
    mallory = paths["hostile (its own readings)"] = PathTally(devices=1, sent=len(sent))
    mallory.stored_rows = len(rows)
    mallory.not_sent = sum(1 for k, _ in rows if k not in set(sent))
    # Not a failure: it forgets a message on the broker's PUBACK, which is not durable.
    mallory.lost = len(set(sent) - {k for k, _ in rows})
    mallory.wrong_patient = sum(1 for _, p in rows if p != hostile_patient)
    if mallory.not_sent or mallory.wrong_patient:
        failing.append(hostile_id)
    if stored:  # points of a device that no source here is
        other = paths["other devices"] = PathTally(devices=len(stored))
        other.stored_rows = other.not_sent = sum(len(r) for r in stored.values())
        failing += sorted(stored)
    return paths, failing, len(rows)


def _count(t: PathTally, keys: list[Key], rows: list[tuple[Key, str]], patient: str) -> bool:
    want = set(keys)
    got = Counter(k for k, _ in rows)
    t.sent += len(keys)
    t.stored_rows += len(rows)
    lost = len(want - set(got))
    not_sent = sum(c for k, c in got.items() if k not in want)
    duplicated = sum(c - 1 for k, c in got.items() if k in want and c > 1)
    wrong_patient = sum(1 for _, p in rows if p != patient)
    t.lost, t.not_sent, t.duplicated, t.wrong_patient = (
        t.lost + lost, t.not_sent + not_sent, t.duplicated + duplicated,
        t.wrong_patient + wrong_patient)
    wrong = bool(lost or not_sent or duplicated or wrong_patient
                 or checksum([k for k, _ in rows]) != checksum(keys))
    t.devices_wrong += wrong
    return wrong


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def recovery(events: list[Any], confirmations: dict[str, list[tuple[float, float]]],
             t0: float) -> list[dict[str, Any]]:
    """For each fault and source kind: ``back_s``, from the fault to the first confirmation
    of a message first sent after it (the path works again end to end); ``worst_s``, the
    longest wait for a confirmation among messages first sent in the 10 s after it. The
    first row gives the whole run's p50/p99 for comparison."""
    relative = {k: [(s - t0, c - t0) for s, c in v] for k, v in confirmations.items()}
    rows: list[dict[str, Any]] = [{"fault": "whole run", "at_s": None, **{
        f"{k}_p50_s": _pct([c - s for s, c in v], 0.5) for k, v in relative.items()}, **{
        f"{k}_p99_s": _pct([c - s for s, c in v], 0.99) for k, v in relative.items()}}]
    for event in events:
        if event.kind not in FAULTS:
            continue
        row: dict[str, Any] = {"fault": event.kind, "target": event.target, "at_s": event.at_s}
        for kind, pairs in relative.items():
            after = [c - event.at_s for s, c in pairs if s >= event.at_s]
            window = [c - s for s, c in pairs if event.at_s <= s < event.at_s + 10]
            row[f"{kind}_back_s"] = round(min(after), 2) if after else None
            row[f"{kind}_worst_s"] = round(max(window), 2) if window else None
        rows.append(row)
    return rows


def _f(value: Any) -> str:
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def markdown(report: Any) -> str:
    plan = report.plan
    lines = [
        "# Fault suite", "",
        f"Run at {report.started_at[:19]}Z, seed {plan['seed']}: {plan['readings']:,} readings "
        f"from {plan['devices']} devices behind {plan['gateways']} `hearth gateway` processes, "
        f"{plan['direct']} patients' devices publishing MQTT themselves (3 each) and "
        f"{plan['uploaders']} Nightscout uploaders ({plan['source_hours']:g} simulated hours "
        f"each) → the shipped Mosquitto → {plan['ingest_replicas']} `hearth ingest` → "
        f"InfluxDB. Every reading handed over at {report.stream_s:.0f} s, every one "
        f"confirmed at {report.settled_s:.0f} s" + (" (TIMED OUT)" if report.timed_out else "")
        + f". Exit status {report.exit_status}.", "",
        "| t (s) | event | target | detail |", "|---:|---|---|---|",
        *[f"| {e.at_s:.1f} | {e.kind} | {e.target} | {e.detail} |" for e in report.events],
        "", "| entry path | devices | readings sent | rows stored | lost | stored, not sent "
        "| duplicated | wrong patient | devices with a wrong count or checksum |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in report.paths.items():
        t = t if isinstance(t, PathTally) else PathTally(**t)
        lines.append(f"| {name} | {t.devices} | {t.sent:,} | {t.stored_rows:,} | {t.lost:,} | "
                     f"{t.not_sent:,} | {t.duplicated:,} | {t.wrong_patient:,} | "
                     f"{t.devices_wrong} |")
    lines += ["", "Sent again for want of ingest's confirmation: " + ", ".join(
        f"{k} {v:,}" for k, v in report.resends.items()) + ".", ""]
    if report.hostile:
        lines += ["## The hostile device", "", "| attack | tried | accepted | refused | "
                  "disconnected | notes |", "|---|---:|---:|---:|---:|---|"]
        for name, a in report.hostile["attacks"].items():
            lines.append(f"| {name} | {a['attempts']} | {a['accepted']} | {a['refused']} | "
                         f"{a['disconnected']} | {'; '.join(a['notes'][:6])} |")
        lines += ["", f"Stored under mallory: {report.hostile['stored_under_mallory']:,} "
                  f"(its flood readings the broker accepted: "
                  f"{report.hostile['flood_readings_accepted_by_broker']:,}). Dead letters "
                  "kept: " + ", ".join(f"{k} ×{v}" for k, v in
                                        report.hostile["dead_letters_kept"].items()) + ".", ""]
    if report.memory:
        m = report.memory
        lines += [f"Memory (RSS, MB) around {m['messages']} messages of {m['message_mb']:g} MB: "
                  + "; ".join(f"{n} {_f(m['rss_mb_before'].get(n))} before, peak "
                              f"{_f(m['rss_mb_peak'].get(n))}, after {_f(m['rss_mb_after'].get(n))}"
                              for n in m["rss_mb_before"]) + ".", ""]
    if report.recovery:
        lines += ["## Recovery (seconds)", "",
                  "| fault | t (s) | direct: back | direct: worst wait | Nightscout: back | "
                  "Nightscout: worst wait |", "|---|---:|---:|---:|---:|---:|"]
        whole = report.recovery[0]
        lines.append(f"| whole run, p50 / p99 wait | | {_f(whole.get('direct_p50_s'))} / "
                     f"{_f(whole.get('direct_p99_s'))} | | {_f(whole.get('nightscout_p50_s'))} / "
                     f"{_f(whole.get('nightscout_p99_s'))} | |")
        for r in report.recovery[1:]:
            lines.append(f"| {r['fault']} {r.get('target', '')} | {r['at_s']:.1f} | "
                         f"{_f(r.get('direct_back_s'))} | {_f(r.get('direct_worst_s'))} | "
                         f"{_f(r.get('nightscout_back_s'))} | "
                         f"{_f(r.get('nightscout_worst_s'))} |")
    return "\n".join(lines) + "\n"
