"""The joint record as a FHIR R4 ``collection`` Bundle (issue 21), validated before it
leaves by core/interop/fhir.py (HL7's R4 JSON schema and the fhir.resources models).

- her plan's goals: ``Goal`` (expressedBy her coach's plan: no ``expressedBy``), with
  ``lifecycleStatus`` from the goal's state and ``achievementStatus`` from its latest
  finished period (achieved / not-achieved; in-progress before the first), category
  "behavioral" (http://hl7.org/fhir/R4/goal.html, valueset goal-achievement);
- the outcomes that matter to her: ``Goal`` with ``expressedBy`` the Patient (her own
  words), and each rating an ``Observation`` (category "survey", ``valueInteger`` 0-10,
  ``focus`` the Goal), listed in the Goal's ``outcomeReference``;
- entries of the joint record (goal met, personal best, check-in, ...): ``Observation``
  (category "activity", ``valueString`` the entry's words, ``focus`` its Goal);
- WHO-5 results: ``Observation`` (category "survey", ``valueInteger`` the percentage
  score 0-100, one ``component`` per item 0-5). The codes are text only: no LOINC code
  is claimed for the WHO-5 or for personal outcomes (none is used elsewhere in Hearth,
  and an unchecked code would be worse than none).

Stories are not in the bundle (they are the author's content shared by consent, not part
of a health record) and neither are the readings, which have their own export
(dashboard/fhir.py). Ids are stable (UUID v5), so the same record exports the same ids.
"""

from __future__ import annotations

from typing import Any

from care.record import GoalLine, JointRecord
from care.wellbeing import ITEMS, NAME
from core.appdb.directory import PatientInfo
from core.interop.fhir import (
    OBSERVATION_CATEGORY,
    Entry,
    collection_bundle,
    fhir_instant,
    full_url,
    identifier,
    patient_entry,
    stable_id,
)

GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
GOAL_CATEGORY = "http://terminology.hl7.org/CodeSystem/goal-category"
LIFECYCLE = {"active": "active", "paused": "on-hold", "done": "completed",
             "retired": "cancelled", "stopped": "cancelled"}


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code}]}]


def _achievement(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": GOAL_ACHIEVEMENT, "code": code, "display": display}]}


def _plan_goal(goal: GoalLine, patient_url: str) -> Entry:
    rid = stable_id("goal", goal.id)
    status = ("in-progress", "In Progress") if goal.last_met is None else (
        ("achieved", "Achieved") if goal.last_met else ("not-achieved", "Not Achieved"))
    resource: dict[str, Any] = {
        "resourceType": "Goal", "id": rid, "identifier": [identifier("goal", goal.id)],
        "lifecycleStatus": LIFECYCLE.get(goal.status, "active"),
        "achievementStatus": _achievement(*status),
        "category": [{"coding": [{"system": GOAL_CATEGORY, "code": "behavioral"}],
                      "text": goal.behaviour.replace("_", " ")}],
        "description": {"text": goal.text},
        "subject": {"reference": patient_url},
        "startDate": goal.created_at.date().isoformat(),
    }
    if goal.periods:
        resource["note"] = [{"text": f"met in {goal.met} of {goal.periods} periods"}]
    return Entry(full_url(rid), resource)


def bundle(record: JointRecord, info: PatientInfo) -> dict[str, Any]:
    """The validated Bundle of the record as its reader sees it."""
    patient = patient_entry(info)
    purl = patient.full_url
    entries: list[Entry] = [patient]
    goal_urls: dict[str, str] = {}
    for goal in record.goals:
        entry = _plan_goal(goal, purl)
        goal_urls[goal.id] = entry.full_url
        entries.append(entry)
    for outcome in record.outcomes or ():
        gid = stable_id("outcome", outcome.id)
        ratings = []
        for n, (at, score) in enumerate(outcome.ratings):
            oid = stable_id("outcome-rating", f"{outcome.id}/{n}/{fhir_instant(at)}")
            ratings.append(Entry(full_url(oid), {
                "resourceType": "Observation", "id": oid,
                "identifier": [identifier("outcome-rating", f"{outcome.id}/{n}")],
                "status": "final", "category": _category("survey"),
                "code": {"text": f"How well it is going (0-10): {outcome.text}"},
                "subject": {"reference": purl}, "focus": [{"reference": full_url(gid)}],
                "effectiveDateTime": fhir_instant(at), "valueInteger": score}))
        own: dict[str, Any] = {
            "resourceType": "Goal", "id": gid, "identifier": [identifier("outcome", outcome.id)],
            "lifecycleStatus": "cancelled" if outcome.retired_at else "active",
            "description": {"text": outcome.text},
            "subject": {"reference": purl}, "expressedBy": {"reference": purl},
            "startDate": outcome.created_at.date().isoformat(),
            "note": [{"text": "An outcome that matters to the patient, in her own words."}],
        }
        if ratings:
            own["outcomeReference"] = [{"reference": r.full_url} for r in ratings]
        entries.append(Entry(full_url(gid), own))
        entries.extend(ratings)
    for a in record.achievements:
        oid = stable_id("achievement", a["id"])
        resource: dict[str, Any] = {
            "resourceType": "Observation", "id": oid,
            "identifier": [identifier("achievement", a["id"])], "status": "final",
            "category": _category("activity"),
            "code": {"text": f"Joint record: {a['kind'].replace('_', ' ')}"},
            "subject": {"reference": purl}, "effectiveDateTime": fhir_instant(a["at"]),
            "valueString": a["title"] + (f" - {a['detail']}" if a["detail"] else ""),
        }
        if a.get("goal_id") in goal_urls:
            resource["focus"] = [{"reference": goal_urls[a["goal_id"]]}]
        entries.append(Entry(full_url(oid), resource))
    for check in record.wellbeing or ():
        oid = stable_id("who5", check.id)
        entries.append(Entry(full_url(oid), {
            "resourceType": "Observation", "id": oid,
            "identifier": [identifier("who5", check.id)], "status": "final",
            "category": _category("survey"),
            "code": {"text": f"{NAME}: percentage score (0-100)"},
            "subject": {"reference": purl}, "effectiveDateTime": fhir_instant(check.taken_at),
            "valueInteger": check.percent,
            "component": [{"code": {"text": item}, "valueInteger": value}
                          for item, value in zip(ITEMS, check.items, strict=True)]}))
    return collection_bundle(entries, timestamp=record.made_at,
                             bundle_key=f"joint-record/{record.patient_id}/"
                                        f"{fhir_instant(record.made_at)}")
