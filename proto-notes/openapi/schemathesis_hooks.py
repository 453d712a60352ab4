"""Schemathesis hooks for the Ticketon OpenAPI descriptions (proto-notes/openapi/).

Loaded by the schemathesis run (`SCHEMATHESIS_HOOKS=<this file>`, see .ci/schemathesis.sh). Each
hook stands for one rule of the prose contract that JSON Schema cannot say, so that schemathesis
does not call a request "schema-valid" that the contract itself refuses. None of them hides an
answer: they only shape what is generated.
"""

import datetime

import schemathesis


def _whole_floats_to_ints(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_floats_to_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_floats_to_ints(v) for k, v in value.items()}
    return value


@schemathesis.hook
def map_case(context, case):
    """Integers are written as JSON integers (`145`), never as whole floats (`145.0`).

    JSON Schema 2020-12 counts `145.0` as an integer and schemathesis generates it for
    `type: integer`; both services read integers into Rust integer types, which refuse it
    (400). The value is the same to every JSON Schema validator, so this changes no case's
    validity. (Case hooks, unlike body hooks, also reach the stateful phase.)
    """
    if isinstance(case.body, (dict, list, float)):
        case.body = _whole_floats_to_ints(case.body)
    return case


@schemathesis.hook("filter_case").apply_to(path="/v1/api/events/{eventId}/seats")
def cursor_needs_limit(context, case):
    """`cursor` is only read with `limit` (400 `invalid_query` otherwise)."""
    query = case.query
    return not query or "cursor" not in query or "limit" in query


@schemathesis.hook("filter_case").apply_to(method="POST", path="/v1/api/events")
def event_fits(context, case):
    """Section names are distinct and an event has at most 200,000 seats (400 `invalid_event`).

    Both rules are across the items of `sections`, which JSON Schema cannot express. Bodies that
    are malformed in any other way are kept as they are.
    """
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("sections"), list):
        return True
    sections = body["sections"]
    if not all(isinstance(s, dict) for s in sections):
        return True
    names = [s.get("name") for s in sections if isinstance(s.get("name"), str)]
    if len(names) != len(set(names)):
        return False
    total = 0
    for s in sections:
        rows, per_row = s.get("rows"), s.get("seatsPerRow")
        if _is_count(rows) and _is_count(per_row):
            total += rows * per_row
    return total <= 200_000


def _is_count(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@schemathesis.hook("filter_case").apply_to(method="PUT", path="/v1/api/queues/{queueId}")
def schedule_is_coherent(context, case):
    """A schedule opens in the future, `prequeue` needs `opensAt`, and `opensAt` comes without a
    `status` (400 `invalid_field` otherwise: rules across fields and against the clock).

    Bodies that are malformed in any other way are kept as they are; an `opensAt` that Python
    cannot read (a leap second) is not sent.
    """
    body = case.body
    if not isinstance(body, dict):
        return True
    opens_at = body.get("opensAt")
    if body.get("prequeue") is True and not isinstance(opens_at, str):
        return False
    if not isinstance(opens_at, str):
        return True
    if body.get("status") is not None:
        return False
    try:
        at = datetime.datetime.fromisoformat(opens_at.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    if at.tzinfo is None:
        return False
    return at > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
