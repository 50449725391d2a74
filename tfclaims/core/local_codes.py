"""The local codes a council's plan declares, per local table: what ingest validates ``code`` against.

:class:`tfclaims.rules.frameworks.Framework` builds this from the plan's ``local_codes`` section
(:meth:`Framework.declared_local_codes`); ingest only reads it, so the codes have one place: the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

NO_PLAN_MESSAGE = "no local plan declares local codes"

# The local_events codes of assessment factors read from the CIN census: the prefix and the factor
# (``CIN_3B``: domestic abuse, a parent or carer the subject). A factor says a concern was recorded at
# an assessment; its absence later says nothing, so a plan's rules may identify with these codes,
# never judge success on them.
FACTOR_CODE_PREFIX = "CIN_"


def is_factor_code(code: str) -> bool:
    return code.upper().startswith(FACTOR_CODE_PREFIX)


@dataclass(frozen=True)
class DeclaredCodes:
    """``codes[table]`` = the codes of that local table, in the plan's order; ``plan`` = the plan's name."""

    plan: str | None = None
    codes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def declared(self) -> bool:
        return any(self.codes.values())

    def for_table(self, table: str) -> tuple[str, ...]:
        return tuple(self.codes.get(table, ()))

    def undeclared_message(self, table: str, code: str) -> str:
        """Why a row's ``code`` is refused (the plan's codes for the table, or that no plan declares any)."""
        if not self.declared:
            return NO_PLAN_MESSAGE
        codes = self.for_table(table)
        listed = ", ".join(codes) if codes else "none"
        return f"code {code!r} is not declared by the local plan {self.plan} (declared for {table}: {listed})"


NO_CODES = DeclaredCodes()
