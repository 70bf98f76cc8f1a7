"""Constrained input types, defined once: what a request may send is what the columns hold.

A value out of a column's range must be a 422 at the edge, never a database error ("value out
of int32 range", a 500). SQLite's INTEGER holds 64 bits, PostgreSQL's and MySQL's 32: the
narrowest database sets each bound.
"""

from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BeforeValidator, Field

INT32_MAX = 2**31 - 1  # INTEGER
INT64_MAX = 2**63 - 1  # BIGINT


def _refuse_bool(value: Any) -> Any:
    # Pydantic reads JSON true as 1 outside strict mode; strict mode would also refuse 2.0,
    # which JSON Schema counts as an integer.
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")  # noqa: TRY004 - pydantic wants ValueError
    return value


# Put it after the bounds: pydantic writes bounds that follow a before-validator into the JSON
# schema under their Python names (ge, le), which no client reads.
NotBool = BeforeValidator(_refuse_bool)
Count32 = Annotated[int, Ge(0), Le(INT32_MAX), NotBool]  # an Integer column never negative
Key = Annotated[int, Ge(1), Le(INT64_MAX), NotBool]  # a BigInteger id (ids start at 1)
# Text every database stores as sent: PostgreSQL refuses the NUL character in text.
StorableText = Annotated[str, Field(pattern=r"^[^\x00]*$")]
