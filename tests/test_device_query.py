"""The fleet list's parameters (printerhq.server.device_query): any query string is either a
bounded DeviceQuery or a QueryError with a reason; never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.server import device_query as dq

_names = st.sampled_from([*dq.PARAMETERS, "page", "LIMIT", ""])
_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["0", "1", "500", "501", "-1", "\uff11\uff12", "1e3", "urgency", "-lowest", "latest"]
    ),
    st.integers(-10, 10**13).map(str),
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_names, _values, max_size=6), st.booleans())
def test_property_any_query_string_parses_or_says_why(params, everything):
    try:
        query = dq.parse(params, everything_by_default=everything)
    except dq.QueryError as exc:
        assert str(exc)
        return
    assert query.limit is None or 1 <= query.limit <= dq.MAX_LIMIT
    assert 0 <= query.offset <= dq.MAX_OFFSET
    assert len(query.q) <= dq.MAX_SEARCH and query.q.isprintable()
    assert query.sort in (*dq.SORTS, "id") and query.status in ("", *dq.STATUSES)
    # A view's own link parses back to the same view.
    if query.limit is not None:
        assert dq.parse(query.params()) == query


def test_defaults_and_links():
    assert dq.parse({}) == dq.DeviceQuery()
    assert dq.parse({}, everything_by_default=True).limit is None
    query = dq.parse({"q": "hp", "sort": "-runs_out", "status": "ok", "offset": "200"})
    assert query.descending and query.sort == "runs_out"
    assert query.params(offset=300) == {
        "q": "hp",
        "status": "ok",
        "sort": "-runs_out",
        "offset": "300",
    }


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"limit": "501"}, "limit must be a whole number from 1 to 500"),
        ({"sort": "x"}, "sort must be one of"),
        ({"nope": "1"}, "unknown parameter 'nope'"),
    ],
)
def test_reasons(params, reason):
    with pytest.raises(dq.QueryError, match=reason):
        dq.parse(params)
