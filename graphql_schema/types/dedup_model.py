"""The organization's dedup model: its thresholds and what its last sweep learned."""

from __future__ import annotations

import datetime
from typing import Any

import strawberry

from crm.matching.settings import DedupModelView, dedup_model
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsReader


@strawberry.type(description="One agreement level of one field: its m, u and weight.")
class DedupLevel:
    level: str = strawberry.field(
        description="The level (exact, typo, nickname, transposed, different...)."
    )
    m: float = strawberry.field(description="Share of duplicate pairs showing this level.")
    u: float = strawberry.field(
        description="Share of pairs of different people showing this level: random pairs of "
        "contacts for a learned model, compared pairs for the defaults."
    )
    u_random: float | None = strawberry.field(
        description="Share of random pairs of contacts showing this level (null when not measured)."
    )
    weight: float = strawberry.field(description="log2(m / u): what the level adds to a score.")


@strawberry.type(description="The levels of one compared field.")
class DedupField:
    field: str = strawberry.field(description="The field (first_name, date_of_birth, postcode...).")
    levels: list[DedupLevel] = strawberry.field(description="Its levels.")


@strawberry.type(
    description="How the dedup sweep decides for this organization: the thresholds (as "
    "probabilities) and the Fellegi-Sunter model its last successful sweep learned from the "
    "organization's own contacts."
)
class DedupModel:
    auto_merge_at: float = strawberry.field(
        description="Pairs at or above this probability merge on their own (households never)."
    )
    review_at: float = strawberry.field(
        description="Pairs at or above this probability are queued for a person."
    )
    run_id: strawberry.ID | None = strawberry.field(
        description="The sweep run that learned the model; null before the first sweep."
    )
    learned_at: datetime.datetime | None = strawberry.field(description="When that sweep started.")
    trained: bool = strawberry.field(
        description="False when the defaults were used (a small organization, no sweep yet)."
    )
    pairs: int = strawberry.field(description="Compared pairs the model learned from.")
    iterations: int = strawberry.field(description="Expectation-maximisation iterations.")
    match_probability: float | None = strawberry.field(
        description="The prior: the chance that two random contacts are one person for a "
        "learned model; the share of duplicates among compared pairs for the defaults."
    )
    note: str | None = strawberry.field(description="Why the defaults were used, if they were.")
    keeps_twins_apart: bool = strawberry.field(
        description="False when this organization's own household pairs show more twin-like "
        "pairs (one birthday, two first names) than pairs whose first name and birthday both "
        "differ: its first names are written wrong, not twins', and one birthday in one home "
        "is scored as one person."
    )
    keeps_juniors_apart: bool = strawberry.field(
        description="False when its household pairs show more junior-like pairs (one first "
        "name, two birthdays) than pairs apart: one first name in one home is scored as one "
        "person, its date of birth written wrong or missing."
    )
    fields: list[DedupField] = strawberry.field(description="Per field and level: m, u, weight.")

    @classmethod
    def from_view(cls, view: DedupModelView) -> DedupModel:
        model: dict[str, Any] = view.model or {}
        run = view.run
        return cls(
            auto_merge_at=view.thresholds.auto_merge,
            review_at=view.thresholds.review,
            run_id=strawberry.ID(str(run.id)) if run is not None else None,
            learned_at=run.started_at if run is not None else None,
            trained=bool(model.get("trained")),
            pairs=int(model.get("pairs") or 0),
            iterations=int(model.get("iterations") or 0),
            match_probability=model.get("match_probability"),
            note=model.get("note") or None,
            keeps_twins_apart=model.get("twins", True) is not False,
            keeps_juniors_apart=model.get("juniors", True) is not False,
            fields=[
                DedupField(
                    field=f["field"],
                    levels=[
                        DedupLevel(
                            level=lv["level"],
                            m=lv["m"],
                            u=lv["u"],
                            u_random=lv.get("u_random"),
                            weight=lv["weight"],
                        )
                        for lv in f["levels"]
                    ],
                )
                for f in model.get("fields") or []
            ],
        )


@strawberry.type
class DedupModelQuery:
    @database_field(
        description="The organization's dedup thresholds and the matching model its last "
        "successful sweep learned (per field and level: m, u, weight).",
        permission_classes=[IsReader],
    )
    def dedup_model(self, info: Info) -> DedupModel:
        ctx = info.context
        return DedupModel.from_view(dedup_model(ctx.session, organization=ctx.organization))
