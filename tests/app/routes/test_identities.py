"""Identity routes: pagination with reference counts, deleting identities and single references."""

from __future__ import annotations


async def test_list_identities_paginates_with_reference_counts(helpers, enrolled):
    first = (await enrolled.get("/galleries/faces/identities", params={"offset": 0, "limit": 3})).json()
    rest = (await enrolled.get("/galleries/faces/identities", params={"offset": 3, "limit": 3})).json()
    assert first["total"] == rest["total"] == len(helpers.IDENTITIES)
    assert (first["offset"], first["limit"], len(first["identities"])) == (0, 3, 3)
    assert len(rest["identities"]) == 1
    names = [row["identity"] for row in first["identities"] + rest["identities"]]
    assert sorted(names) == sorted(helpers.IDENTITIES)
    assert all(row["references"] == 2 for row in first["identities"])


async def test_list_identities_past_the_end_returns_empty_page(helpers, enrolled):
    page = (await enrolled.get("/galleries/faces/identities", params={"offset": 50})).json()
    assert page["total"] == len(helpers.IDENTITIES) and page["identities"] == []


async def test_list_identities_bad_limit_returns_422(client):
    response = await client.get("/galleries/faces/identities", params={"limit": 0})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


async def test_delete_identity_removes_it_from_listing_and_search(helpers, enrolled):
    response = await enrolled.delete("/galleries/faces/identities/carol")
    assert response.status_code == 200
    assert response.json() == {"gallery": "faces", "identity": "carol", "deleted_references": 2}
    body = (await helpers.identify(enrolled, helpers.noisy("carol", seed=40))).json()
    assert body["identity"] is None
    assert "carol" not in [c["identity"] for c in body["candidates"]]
    page = (await enrolled.get("/galleries/faces/identities")).json()
    assert page["total"] == len(helpers.IDENTITIES) - 1


async def test_delete_identity_unknown_returns_404(enrolled):
    response = await enrolled.delete("/galleries/faces/identities/zoe")
    assert response.status_code == 404 and response.json()["error"]["code"] == "identity_not_found"


async def test_delete_reference_removes_only_that_reference(helpers, enrolled):
    page = (await enrolled.get("/galleries/faces/identities")).json()
    before = {row["identity"]: row["references"] for row in page["identities"]}
    body = (await helpers.identify(enrolled, helpers.noisy("alice", seed=60))).json()
    reference_id = body["candidates"][0]["reference_id"]
    response = await enrolled.delete(f"/galleries/faces/references/{reference_id}")
    assert response.json() == {"gallery": "faces", "reference_id": reference_id, "identity": "alice"}
    page = (await enrolled.get("/galleries/faces/identities")).json()
    after = {row["identity"]: row["references"] for row in page["identities"]}
    assert after == {**before, "alice": before["alice"] - 1}
    again = (await helpers.identify(enrolled, helpers.noisy("alice", seed=60))).json()
    assert again["candidates"][0]["reference_id"] != reference_id


async def test_delete_reference_unknown_returns_404(enrolled):
    response = await enrolled.delete("/galleries/faces/references/999999")
    assert response.status_code == 404 and response.json()["error"]["code"] == "reference_not_found"


async def test_delete_identity_in_unknown_gallery_returns_404(client):
    response = await client.delete("/galleries/nope/identities/alice")
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"


async def test_delete_reference_id_beyond_int64_returns_404(client):
    response = await client.delete(f"/galleries/faces/references/{2**64}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "reference_not_found"


async def test_list_identities_offset_beyond_int64_returns_empty_page(client):
    response = await client.get("/galleries/faces/identities", params={"offset": 2**64})
    assert response.status_code == 200 and response.json()["identities"] == []


async def test_reference_id_written_with_more_than_digits_returns_422(helpers, enrolled):
    body = (await helpers.identify(enrolled, helpers.noisy("alice", seed=61))).json()
    reference_id = body["candidates"][0]["reference_id"]
    # int() reads each of these as a number; a path names a reference only by its digits
    for text in (f"+{reference_id}", f"{reference_id}_0", f" {reference_id}", "１"):
        response = await enrolled.delete(f"/galleries/faces/references/{text}")
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error", text
    image = await enrolled.get(f"/galleries/faces/references/+{reference_id}/image")
    assert image.status_code == 422
    response = await enrolled.delete(
        f"/galleries/faces/references/0{reference_id}"
    )  # leading zeros are digits
    assert response.status_code == 200 and response.json()["reference_id"] == reference_id


async def test_list_identities_query_numbers_are_digits_and_sent_once(enrolled):
    for params in ({"limit": "+2"}, {"offset": "1_0"}, {"limit": " 2"}):
        response = await enrolled.get("/galleries/faces/identities", params=params)
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error", params
    response = await enrolled.get("/galleries/faces/identities?limit=2&limit=1000")
    assert response.status_code == 422 and response.json()["error"]["code"] == "duplicate_field"
    assert "'limit'" in response.json()["error"]["message"]
    page = await enrolled.get("/galleries/faces/identities?limit=02&offset=0")
    assert page.status_code == 200 and len(page.json()["identities"]) == 2


async def test_a_query_parameter_no_route_reads_may_repeat(client):
    assert (await client.get("/health?probe=1&probe=2")).status_code == 200
    assert (await client.get("/galleries?x=&x=")).status_code == 200
