"""What the dashboard's extra pages share: the viewer's session, as the fleet page checks it.

The pages themselves (``agents_page.py``, ``meter_reads_page.py``) keep the dashboard's layout
(:func:`printerhq.server.dashboard._page`, its navigation and its escaping :func:`e`).
"""

from __future__ import annotations

from starlette.requests import Request

from printerhq.server.dashboard import COOKIE
from printerhq.server.store import Store

MAX_COOKIE = 256


async def viewer_session(store: Store, request: Request) -> bool:
    """True when the request carries the session cookie of an active viewer (the token itself,
    looked up like the API looks it up, so a revoked viewer is logged out at once)."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > MAX_COOKIE:
        return False
    holder = await store.token_holder(token)
    return holder is not None and holder.role == "viewer"
