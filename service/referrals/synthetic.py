"""Deterministic synthetic students and referrals for metrics benchmarks:
`python -m service seed-referrals N`.

Built on the programs already in the catalog (run `seed --synthetic` first for a large
one), into a database kept for benchmarks. Schools are synthetic organizations
(external_id 'synthetic-school:...'); each
student gets one consent covering every category, and referrals follow the loop with
outcome probabilities that differ by group, so disaggregated metrics show gaps. Rows
are written with COPY. Synthetic referrals carry their timestamps but no timeline
events: they exist to be measured. The metrics tables (referral_facts, metrics_students)
are filled by their triggers, once per COPY batch.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from service.auth.scope import public_program_sql
from service.catalog.enums import Category
from service.consent.enums import DataElement
from service.referrals.enums import Need, Urgency
from service.sealing.keyring import keyring
from service.sealing.records import seal_record
from service.students.pii import identity_material

NAMESPACE = uuid.UUID("0b8a5a8e-8a1f-4c9e-9d2f-2a7c3e5b6d10")
SCHOOLS = 24
REFERRALS_PER_STUDENT = 2.5
BATCH = 50_000
MAX_REFERRALS = 2_000_000
RACES = [  # (hispanic, races), weights roughly those of Norwalk's public schools
    ((True, ["white"]), 30),
    ((False, ["white"]), 38),
    ((False, ["black_or_african_american"]), 16),
    ((False, ["asian"]), 6),
    ((False, ["white", "black_or_african_american"]), 5),
    ((None, []), 5),
]
LANGUAGES = [("en", 64), ("es", 28), ("ht", 3), ("pt", 2), (None, 3)]
GENDERS = [("female", 48), ("male", 48), ("nonbinary", 2), (None, 2)]


@dataclass
class Generated:
    schools: int
    students: int
    referrals: int


def _uid(kind: str, n: int, seed: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{seed}:{n}")


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def _outcome(rng: random.Random, sent: datetime, now: datetime, lift: float) -> dict[str, Any]:
    """A referral's path through the loop; `lift` shifts its odds (the equity gaps)."""
    r: dict[str, Any] = {
        "status": "sent",
        "responded_at": None,
        "contacted_at": None,
        "enrolled_at": None,
        "closed_at": None,
        "received_at": None,
        "status_reason": None,
    }

    def at(days: float) -> datetime | None:
        moment = sent + timedelta(days=days)
        return moment if moment <= now else None

    received = at(rng.expovariate(1 / 1.5))
    if received is None:
        return r
    r.update(status="received", received_at=received)
    if rng.random() > 0.86 + lift / 2:
        if (now - sent).days > 30:
            r.update(
                status="expired", status_reason="no_response", closed_at=sent + timedelta(days=30)
            )
        return r
    responded = at(rng.expovariate(1 / 3.0) + 0.5)
    if responded is None:
        return r
    r["responded_at"] = responded
    if rng.random() > 0.8 + lift:
        r.update(
            status="declined",
            status_reason=rng.choice(["no_capacity", "not_eligible", "not_a_fit"]),
            closed_at=responded,
        )
        return r
    r["status"] = "accepted"
    contacted = at((responded - sent).days + rng.expovariate(1 / 5.0))
    if contacted is None or rng.random() > 0.78 + lift:
        if contacted is not None and (now - sent).days > 60:
            r.update(
                status="not_completed",
                status_reason="could_not_contact",
                closed_at=sent + timedelta(days=60),
            )
        return r
    r.update(status="contacted", contacted_at=contacted)
    enrolled = at((contacted - sent).days + rng.expovariate(1 / 7.0))
    if enrolled is None or rng.random() > 0.72 + lift:
        if enrolled is not None:
            r.update(
                status="not_completed", status_reason="no_longer_interested", closed_at=enrolled
            )
        return r
    r.update(status="enrolled", enrolled_at=enrolled)
    finished = at((enrolled - sent).days + rng.uniform(30, 150))
    if finished is not None:
        done = rng.random() < 0.65 + lift
        r.update(
            status="completed" if done else "not_completed",
            status_reason=None if done else "stopped_attending",
            closed_at=finished,
        )
    return r


async def generate(conn: asyncpg.Connection, n_referrals: int, seed: int = 7) -> Generated:
    if not 1 <= n_referrals <= MAX_REFERRALS:
        raise ValueError(f"between 1 and {MAX_REFERRALS:,} referrals")
    programs = await conn.fetch(
        "SELECT id, organization_id FROM programs WHERE "  # noqa: S608 - our predicate
        + public_program_sql()
        + " ORDER BY id LIMIT 5000"
    )
    if not programs:
        raise ValueError("no active programs: run `seed` or `seed --synthetic N` first")
    tracts = [
        r["code"]
        for r in await conn.fetch("SELECT code FROM areas WHERE kind = 'tract' ORDER BY code")
    ]
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    ring = keyring()  # even made-up names are stored sealed, as real ones are
    now = datetime.now(UTC)
    schools = [_uid("school", i, seed) for i in range(SCHOOLS)]
    await conn.executemany(
        "INSERT INTO organizations (id, type, name, external_id) VALUES ($1, 'school', $2, $3) "
        "ON CONFLICT (id) DO NOTHING",
        [
            (s, f"Synthetic School {i + 1}", f"synthetic-school:{seed}:{i}")
            for i, s in enumerate(schools)
        ],
    )
    n_students = max(1, int(n_referrals / REFERRALS_PER_STUDENT))
    students: list[tuple[Any, ...]] = []
    consents: list[tuple[Any, ...]] = []
    lifts: list[float] = []
    for i in range(n_students):
        sid = _uid("student", i, seed)
        grade = rng.randint(-1, 12)
        hispanic, races = _pick(rng, RACES)
        language = _pick(rng, LANGUAGES)
        english_learner = language not in ("en", None) and rng.random() < 0.6
        school = schools[i % SCHOOLS]
        born = date(now.year - grade - 6, 1 + i % 12, 1 + i % 28)
        last = f"Student {i}"
        key_id, sealed = seal_record(
            ring,
            "students",
            sid,
            {"first_name": "Synthetic", "last_name": last, "date_of_birth": born.isoformat()},
        )
        students.append(
            (
                sid,
                school,
                f"S{seed}-{i}",
                sealed,
                key_id,
                ring.digest(identity_material(school, "Synthetic", last, born)),
                grade,
                _pick(rng, GENDERS),
                races or None,
                hispanic,
                language,
                english_learner,
                rng.choice(tracts) if tracts else None,
                now,
                now,
            )
        )
        cid = _uid("consent", i, seed)
        signer_id, signer = seal_record(
            ring, "consents", cid, {"signer_name": "Synthetic Guardian"}
        )
        consents.append(
            (
                cid,
                sid,
                school,
                "guardian",
                signer,
                signer_id,
                "written",
                "synthetic",
                now.date() - timedelta(days=800),
                "Synthetic referrals",
                [],
                [c.value for c in Category],
                [e.value for e in DataElement],
                now.date() + timedelta(days=365),
                now,
                now,
            )
        )
        # Outcomes differ by group, as the measures should reveal.
        lifts.append(
            (0.05 if language == "en" else -0.04)
            + (-0.05 if english_learner else 0)
            + (0.03 if grade <= 5 else 0)
        )
    await _copy(conn, "students", STUDENT_COLUMNS, students)
    await _copy(conn, "consents", CONSENT_COLUMNS, consents)
    referrals: list[tuple[Any, ...]] = []
    used: set[tuple[int, int]] = set()
    for i in range(n_referrals):
        s = rng.randrange(n_students)
        p = rng.randrange(len(programs))
        while (s, p) in used:  # one referral per student and program
            p = (p + 1) % len(programs)
        used.add((s, p))
        program = programs[p]
        sent = now - timedelta(days=rng.uniform(0, 730))
        path = _outcome(rng, sent, now, lifts[s])
        referrals.append(
            (
                _uid("referral", i, seed),
                students[s][0],
                consents[s][0],
                students[s][1],
                program["id"],
                program["organization_id"],
                rng.choice(list(Need)).value,
                None,
                rng.choice(list(Urgency)).value,
                ["contact", "school_and_grade", "referral_reason"],
                path["status"],
                path["status_reason"],
                sent,
                path["received_at"],
                path["responded_at"],
                path["contacted_at"],
                path["enrolled_at"],
                path["closed_at"],
                sent + timedelta(days=4),
                sent + timedelta(days=14),
                now,
                now,
                1,
            )
        )
        if len(referrals) >= BATCH:
            await _copy(conn, "referrals", REFERRAL_COLUMNS, referrals)
            referrals.clear()
    await _copy(conn, "referrals", REFERRAL_COLUMNS, referrals)
    total = await conn.fetchval(
        "SELECT count(*) FROM referrals WHERE school_id = ANY($1::uuid[])", schools
    )
    return Generated(schools=SCHOOLS, students=n_students, referrals=int(total))


STUDENT_COLUMNS = (
    "id",
    "school_id",
    "student_number",
    "pii",
    "pii_key_id",
    "identity_hash",
    "grade",
    "gender",
    "races",
    "hispanic_latino",
    "home_language",
    "english_learner",
    "home_tract",
    "created_at",
    "updated_at",
)
CONSENT_COLUMNS = (
    "id",
    "student_id",
    "school_id",
    "signer",
    "pii",
    "pii_key_id",
    "signature_method",
    "evidence_ref",
    "signed_on",
    "purpose",
    "recipient_organization_ids",
    "recipient_categories",
    "data_elements",
    "expires_on",
    "created_at",
    "updated_at",
)
REFERRAL_COLUMNS = (
    "id",
    "student_id",
    "consent_id",
    "school_id",
    "program_id",
    "provider_id",
    "need",
    "need_text",
    "urgency",
    "shared_elements",
    "status",
    "status_reason",
    "sent_at",
    "received_at",
    "responded_at",
    "contacted_at",
    "enrolled_at",
    "closed_at",
    "response_due_at",
    "contact_due_at",
    "created_at",
    "updated_at",
    "version",
)


async def _copy(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    for start in range(0, len(rows), BATCH):
        await conn.copy_records_to_table(
            table, records=rows[start : start + BATCH], columns=list(columns)
        )
