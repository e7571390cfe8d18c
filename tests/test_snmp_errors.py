"""The noSuchName step (printerhq/snmp/errors.py): drop the object an SNMPv1 agent names and ask
again for the rest (RFC 1157 section 4.1.2), one helper for the engine and the planner."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from printerhq.snmp.errors import missing_index, without_missing
from printerhq.snmp.message import ErrorStatus

oids = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=12)


@given(asked=oids, data=st.data())
def test_no_such_name_drops_exactly_the_named_object(asked, data):
    if not asked:
        assert without_missing(asked, ErrorStatus.NO_SUCH_NAME, 1) is None
        return
    index = data.draw(st.integers(1, len(asked)))  # error-index is 1-based
    before = list(asked)
    rest = without_missing(asked, ErrorStatus.NO_SUCH_NAME, index)
    assert asked == before  # the request itself is left alone
    assert rest == asked[: index - 1] + asked[index:]
    assert missing_index(ErrorStatus.NO_SUCH_NAME, index, len(asked)) == index - 1
    assert rest is not asked


@given(asked=oids, status=st.sampled_from(ErrorStatus), index=st.integers(-3, 20))
def test_anything_else_is_not_a_no_such_name_to_act_on(asked, status, index):
    rest = without_missing(asked, status, index)
    applies = status is ErrorStatus.NO_SUCH_NAME and 1 <= index <= len(asked)
    assert (rest is not None) == applies
    assert (missing_index(status, index, len(asked)) is not None) == applies
    if not applies:
        assert rest is None


def test_the_only_object_missing_leaves_nothing_to_ask():
    assert without_missing([(1, 3, 6)], 2, 1) == []
    assert without_missing([(1, 3, 6)], 2, 0) is None  # error-index 0: no object named
    assert without_missing([(1, 3, 6)], 5, 1) is None  # genErr is not noSuchName
