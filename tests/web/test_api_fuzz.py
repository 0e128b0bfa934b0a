"""schemathesis against the OpenAPI document: generated requests to every operation, as an admin
with a token, find no 500 and only the one JSON error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.store.database import Store
from headroom.users import create_token
from headroom.web.app import create_app
from headroom.web.parts import Serve


@pytest.fixture
def served(store: Store) -> Iterator[tuple[Any, str]]:
    app = create_app(Serve(store, ["write-key"]))
    yield app, create_token(store, "root")[1]


def test_no_request_the_schema_allows_is_answered_with_a_500(
    served: tuple[Any, str],
) -> None:
    app, token = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8  # the API and the ingest routes

    # Generated ids are almost never a play's: half the time, use one of the store's (open,
    # closed and won), so that outcomes and assignments run on real plays too.
    real = st.sampled_from(["p1", "p2", "p3", "p4", None])

    @given(case=st.one_of(*[op.as_strategy() for op in operations]), play_id=real)
    @settings(
        max_examples=300, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip
    def call(case: Any, play_id: str | None) -> None:
        if play_id is not None and "play_id" in (case.path_parameters or {}):
            case.path_parameters["play_id"] = play_id
        response = case.call(headers={"authorization": f"Bearer {token}"})
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fix"}

    call()
