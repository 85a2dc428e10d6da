"""GET /galleries/{name}/identities/{identity}/references: one identity's reference ids, oldest first."""

from __future__ import annotations


async def test_list_identity_references_returns_its_ids_oldest_first(helpers, client):
    first = (await helpers.enroll(client, "alice", count=2)).json()["reference_ids"]
    await helpers.enroll(client, "bob", count=1)
    more = (await helpers.enroll(client, "alice", count=1)).json()["reference_ids"]
    response = await client.get("/galleries/faces/identities/alice/references")
    assert response.status_code == 200
    assert response.json() == {"gallery": "faces", "identity": "alice", "reference_ids": first + more}


async def test_list_identity_references_of_a_name_with_slash_and_space(helpers, client):
    ids = (await helpers.enroll(client, "Ada / Lovelace", count=1)).json()["reference_ids"]
    response = await client.get("/galleries/faces/identities/Ada%20%2F%20Lovelace/references")
    assert response.status_code == 200 and response.json()["reference_ids"] == ids


async def test_list_identity_references_drops_a_deleted_reference(helpers, client):
    ids = (await helpers.enroll(client, "alice", count=2)).json()["reference_ids"]
    assert (await client.delete(f"/galleries/faces/references/{ids[0]}")).status_code == 200
    response = await client.get("/galleries/faces/identities/alice/references")
    assert response.json()["reference_ids"] == ids[1:]


async def test_list_identity_references_of_unknown_identity_or_gallery_returns_404(client):
    response = await client.get("/galleries/faces/identities/nobody/references")
    assert response.status_code == 404 and response.json()["error"]["code"] == "identity_not_found"
    response = await client.get("/galleries/nope/identities/alice/references")
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"
