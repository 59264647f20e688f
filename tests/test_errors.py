"""Every error is RFC 9457 problem+json with a stable code."""

from __future__ import annotations

import httpx


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    wrong_method = await client.put("/programs")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_malformed_json_and_bad_ids(client: httpx.AsyncClient) -> None:
    body = await client.post(
        "/organizations", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert body.status_code in {401, 422}
    bad_id = await client.get("/programs/not-a-uuid")
    assert bad_id.status_code == 422
    problem = bad_id.json()
    assert problem["type"].endswith("/validation_error")
    assert problem["errors"][0]["loc"] == ["path", "program_id"]


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_an_undocumented_query_parameter_is_named_in_a_422(client: httpx.AsyncClient) -> None:
    misspelt = await client.get("/programs", params={"catgory": "out_of_school_time"})
    assert misspelt.status_code == 422 and misspelt.json()["code"] == "unknown_query_parameter"
    assert misspelt.json()["errors"][0]["loc"] == ["query", "catgory"]
    one = await client.get("/programs/00000000-0000-4000-8000-000000000000", params={"x": "1"})
    assert one.status_code == 422 and one.json()["code"] == "unknown_query_parameter"
    for _ in range(2):  # the second answer comes from the per-route cache
        fine = await client.get("/programs", params={"category": "out_of_school_time"})
        assert fine.status_code == 200


async def test_a_nul_in_any_query_value_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    """PostgreSQL refuses NUL in text; found by schemathesis on /search/programs."""
    for path, name in (
        ("/search/programs", "taxonomy_term"),
        ("/search/programs", "language"),
        ("/programs", "q"),
    ):
        response = await client.get(path, params={name: "ab\x00c"})
        assert response.status_code == 422, (path, name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", name]


async def test_an_unexpected_error_is_a_problem_500(client: httpx.AsyncClient) -> None:
    """The contract declares problem+json for 500: a bug answers in that shape too."""
    app = client._transport.app  # type: ignore[attr-defined]

    @app.get("/boom-for-test")
    async def boom() -> None:
        raise RuntimeError("a bug")

    response = await client.get("/boom-for-test")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "internal_error" and "a bug" not in response.text
