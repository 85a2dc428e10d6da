"""The OpenAPI document: valid OpenAPI 3.1, the API-key scheme when keys are set, multipart fields as generated
clients read them, and the declared limits matching the checks the service applies."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from app.auth import API_KEY_HEADER
from app.main import create_app
from app.openapi import form_schema
from app.settings import Settings
from gallery.inputs import GALLERY_NAME, MAX_IDENTITY_CHARS


def document(**settings: Any) -> dict[str, Any]:
    return create_app(Settings(**settings)).openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, op) for path, item in doc["paths"].items() for op in item.values() if isinstance(op, dict)]


def multipart_bodies(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schemas = doc["components"]["schemas"]
    refs = [
        op["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
        for _, op in operations(doc)
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    ]
    return {ref.rsplit("/", 1)[1]: schemas[ref.rsplit("/", 1)[1]] for ref in refs}


@pytest.mark.parametrize("keys", [(), ("secret-one",)])
def test_document_is_valid_openapi_3_1(keys):
    validate(document(api_keys=keys))


def test_without_keys_no_security_is_declared():
    doc = document()
    assert "security" not in doc and "securitySchemes" not in doc["components"]
    assert all("security" not in op and "401" not in op["responses"] for _, op in operations(doc))


def test_form_bodies_are_required_and_optional_parameters_never_null():
    doc = document()
    for path, op in operations(doc):
        body = op.get("requestBody", {})
        if "multipart/form-data" in body.get("content", {}):
            assert body["required"] is True, path
        for param in op.get("parameters", []):
            assert {"type": "null"} not in param["schema"].get("anyOf", []), (path, param["name"])
    image = doc["paths"]["/galleries/{name}/references/{reference_id}/image"]["get"]
    assert image["responses"]["200"]["content"]["image/*"]["schema"] == {"type": "string", "format": "binary"}
    assert {"ETag", "Cache-Control"} <= set(image["responses"]["200"]["headers"])


def test_every_response_field_is_required_as_every_one_is_sent():
    schemas = document()["components"]["schemas"]
    for name in ("VerifyOut", "IdentifyOut", "EnrollOut", "ReadyOut", "GalleryOut", "Health"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    # request bodies keep their optional fields optional
    assert "threshold" not in schemas["GalleryCreate"].get("required", [])


def test_with_keys_every_operation_but_health_and_ready_needs_the_header():
    doc = document(api_keys=("secret-one",))
    assert doc["components"]["securitySchemes"] == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    }
    assert doc["security"] == [{"ApiKey": []}]
    open_ops = {path for path, op in operations(doc) if op.get("security") == []}
    assert open_ops == {"/health", "/ready"}
    asked = {path for path, op in operations(doc) if "401" in op["responses"]}
    assert asked == {path for path, _ in operations(doc)} - open_ops


def test_multipart_fields_have_no_null_branch_and_files_are_binary():
    bodies = multipart_bodies(document())
    assert {"Body_enroll_identity_enroll_post", "Body_verify_pair_verify_post"} <= set(bodies)
    for name, body in bodies.items():
        for field, prop in body["properties"].items():
            assert {"type": "null"} not in prop.get("anyOf", []), (name, field)
            assert prop.get("default", "") is not None, (name, field)
    verify = bodies["Body_verify_pair_verify_post"]["properties"]
    for field in ("image_a", "image_b", "image"):
        assert (verify[field]["type"], verify[field]["format"]) == ("string", "binary")
    assert verify["gallery"]["type"] == "string" and verify["identity"]["type"] == "string"
    images = bodies["Body_enroll_identity_enroll_post"]["properties"]["images"]
    assert images["type"] == "array" and images["items"]["format"] == "binary"


def test_declared_limits_are_the_service_constants():
    doc = document(max_images_per_request=7, queue_size=64)
    bodies = multipart_bodies(doc)
    enroll = bodies["Body_enroll_identity_enroll_post"]["properties"]
    assert (enroll["images"]["minItems"], enroll["images"]["maxItems"]) == (1, 7)
    assert (enroll["identity"]["minLength"], enroll["identity"]["maxLength"]) == (1, MAX_IDENTITY_CHARS)
    patterns = {
        enroll["gallery"]["pattern"],
        doc["components"]["schemas"]["GalleryCreate"]["properties"]["name"]["pattern"],
    }
    patterns |= {
        p["schema"]["pattern"]
        for _, op in operations(doc)
        for p in op.get("parameters", [])
        if p["in"] == "path" and p["name"] == "name"
    }
    assert patterns == {GALLERY_NAME.pattern}
    declared = re.compile(patterns.pop())
    for name in ("faces", "x-rays_2", "a" * 64, "Faces", "-x", "a" * 65, "a b"):
        assert bool(declared.search(name)) == bool(GALLERY_NAME.fullmatch(name)), name


def test_form_schema_keeps_defaults_and_leaves_other_unions():
    schema = {
        "properties": {
            "top_k": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 5, "title": "Top K"},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
            "plain": {"type": "string", "default": None},
        },
        "type": "object",
    }
    props = form_schema(schema, max_images=3)["properties"]
    assert props["top_k"] == {"type": "integer", "default": 5, "title": "Top K"}
    assert props["either"] == schema["properties"]["either"]
    assert props["plain"] == {"type": "string", "default": None}
