"""Patient-facing English at a reading age of about 9: the Flesch-Kincaid grade of every
patient-facing message template (the coach's nudges, alerts and e-mails, the home display,
the pages a patient or caregiver reads) is at most 5, measured by textstat 0.7.13
(docs/I18N.md "Reading age").

What is measured: each marked text of at least ``MIN_WORDS`` words (a label of two words
has no reading age), with its placeholders filled by a short number. Syllables are counted
with Pyphen's British English dictionary (textstat's "en-GB" path): textstat's default
English path loads the CMU dictionary from the network at run time, which a test may not.
Texts of clinician-only pages (the coach's, the nurse's, clinic staff's, the audit log) are
not patient-facing and not measured."""

from __future__ import annotations

import re

import textstat

from tests.i18n.catalogue import FIELDS, Marked, marked

MAX_GRADE = 5.0
MIN_WORDS = 8
# Items of a validated questionnaire keep their published wording: reworded, they are no
# longer the validated item (the DDS2's two items, Fisher 2008; care/selfassessment.py,
# docs/CLINICAL.md "Goals, self-assessment and peer groups"). Named one by one.
VALIDATED_WORDING = frozenset({
    "Feeling overwhelmed by the demands of living with diabetes.",
    "Feeling that I am often failing with my diabetes regimen.",
})
CLINICIAN_ONLY = re.compile(
    r"dashboard/templates/(views/)?(coach_|nurse_|staff|audit|moder|_stories_waiting|_?outreach)")


def patient_facing() -> list[Marked]:
    return [m for m in marked() if not CLINICIAN_ONLY.search(m.path)]


def grade(text: str) -> float:
    textstat.set_lang("en-GB")
    filled = FIELDS.sub("12", text)
    return float(textstat.flesch_kincaid_grade(filled))


def test_the_measure_reads_plain_and_hard_text_apart() -> None:
    assert grade("Your sugar is low. Eat some sweets now and check again soon.") <= MAX_GRADE
    assert grade("Hypoglycaemia necessitates immediate administration of rapidly "
                 "absorbable carbohydrate, followed by reassessment.") > 12


def test_every_patient_facing_text_is_at_a_reading_age_of_about_9() -> None:
    measured, hard = 0, []
    for m in patient_facing():
        for text in m.texts:
            if len(text.split()) < MIN_WORDS or text in VALIDATED_WORDING:
                continue
            measured += 1
            g = grade(text)
            if g > MAX_GRADE:
                hard.append(f"{g:4.1f}  {m.path}: {text}")
    assert measured >= 40, measured  # the coach's messages and the pages' sentences
    assert not hard, "above grade 5 (rewrite in plain words):\n" + "\n".join(sorted(hard))


def test_only_validated_items_are_spared_and_they_are_still_marked() -> None:
    from care.selfassessment import DDS2_ITEMS

    assert VALIDATED_WORDING == {text for _key, text in DDS2_ITEMS}
    assert VALIDATED_WORDING <= {t for m in patient_facing() for t in m.texts}
