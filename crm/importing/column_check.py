"""Whether a file's column plan may import as it is, decided before anything is written.

A real import stops (``COLUMN_PLAN_REFUSED``) when a column looks like a known field but is
not mapped, when a column is proposed from its values, when the file has no name column or
no contact channel, or (``strict``) when any column would go to metadata. ``accept``
(``--yes``, ``acceptColumnPlan``) takes the plan as shown; ``--map`` decides a column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from crm.errors import ErrorCode, ServiceError
from crm.importing.columns import ColumnPlan


@dataclass(frozen=True, slots=True)
class PlanProblem:
    column: str | None
    message: str
    # only --map (or fixing the file) resolves it: --yes does not
    hard: bool = False

    def as_json(self) -> dict:
        return {"column": self.column, "message": self.message}


class ColumnPlanRefused(ServiceError):
    """The plan needs a decision: the problems, and whether the file identifies nobody."""

    def __init__(self, plan: ColumnPlan, problems: list[PlanProblem]):
        self.plan = plan
        self.problems = problems
        self.nothing_to_identify = not plan.identifies("name") and not plan.identifies("channel")
        lines = "; ".join(
            (f"column {p.column!r}: " if p.column else "") + p.message for p in problems
        )
        super().__init__(
            ErrorCode.COLUMN_PLAN_REFUSED,
            f"the column plan needs a decision: {lines}. Map a column with --map "
            "'HEADER=FIELD' or 'HEADER=metadata' (GraphQL: columnMap), or accept the plan as "
            "shown with --yes (GraphQL: acceptColumnPlan)",
            field="columnMap",
        )


def plan_problems(plan: ColumnPlan, *, strict: bool = False) -> list[PlanProblem]:
    """What a person must decide before this plan imports."""
    problems: list[PlanProblem] = []
    for match in plan.matches:
        if match.how == "skipped":
            continue
        if match.confirm and match.field is None:
            problems.append(PlanProblem(match.header, f"{match.note}: not imported as that"))
        elif match.confirm:
            problems.append(
                PlanProblem(
                    match.header, f"proposed as {match.field} from its values ({match.note})"
                )
            )
        elif strict and match.field is None and match.how != "map":
            problems.append(PlanProblem(match.header, "not recognised (--strict)", hard=True))
    if not plan.identifies("name"):
        problems.append(PlanProblem(None, "no name column (first_name, last_name or name)"))
    if not plan.identifies("channel"):
        problems.append(
            PlanProblem(None, "no contact channel column (email, phone, a handle or PMS id)")
        )
    return problems


def check_column_plan(plan: ColumnPlan, *, accept: bool = False, strict: bool = False) -> None:
    """Raise ``ColumnPlanRefused`` unless the plan may import (``accept``: as shown)."""
    problems = [p for p in plan_problems(plan, strict=strict) if p.hard or not accept]
    if problems:
        raise ColumnPlanRefused(plan, problems)


def preview_columns(
    stream: IO[bytes],
    *,
    column_map: dict[str, str] | None = None,
    encoding: str | None = None,
    region: str | None = None,
) -> ColumnPlan:
    """The plan the import of ``stream`` will follow (reads the header and a sample only)."""
    from crm.importing.reader import CsvSource

    return CsvSource(stream, column_map=column_map, encoding=encoding, region=region).plan
