"""The OpenAPI document as generated clients need it: FastAPI's, with what it leaves out or says loosely.

- **API keys.** With `SG_API_KEYS` set, an `X-API-Key` header scheme is declared and required on every operation
  but the open ones (/health, /ready), which declare no security.
- **Multipart forms.** A form field is either sent or not; FastAPI writes an optional one as `anyOf [T, null]`,
  which generators turn into a text part carrying "null" (or refuse). Each optional field of a multipart body is
  written as its type alone, and file parts carry `format: binary` beside `contentMediaType`, the mark most
  generators read to send a file. A form route's body is required. Optional header and query parameters lose
  their null branch likewise.
- **401** is declared only where a key is asked for (nowhere without `SG_API_KEYS`).
- **Limits.** Every `/galleries/{name}` path parameter and `gallery` form field carries the pattern a gallery name must
  match; an `identity` form field its length (1-128); an `images` one its count (1 to SG_MAX_IMAGES_PER_REQUEST).
  They are declared, not enforced by FastAPI: the service's own checks answer with their stable error codes.
"""

from __future__ import annotations

import copy
from typing import Any

from app.auth import API_KEY_HEADER, is_open
from gallery.inputs import GALLERY_NAME, MAX_IDENTITY_CHARS

API_KEY_SCHEME = "ApiKey"
METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
SCHEMA_PREFIX = "#/components/schemas/"
GALLERY_PATH = "/galleries/{name}"


def refine(document: dict[str, Any], *, api_keys: bool, max_images: int) -> dict[str, Any]:
    """A copy of FastAPI's OpenAPI `document` with the API-key scheme (when `api_keys`), 401 only where a key is
    asked for, plain optional form fields and parameters, required form bodies and the declared limits."""
    out = copy.deepcopy(document)
    schemas = out.get("components", {}).get("schemas", {})
    for path, item in out.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            _plain_parameters(operation, gallery_path=path.startswith(GALLERY_PATH))
            for name in _multipart_bodies(operation):
                schemas[name] = form_schema(schemas[name], max_images=max_images)
                operation["requestBody"]["required"] = True  # every form route needs its form
            if not api_keys or is_open(path):  # no key is ever asked for here
                operation.get("responses", {}).pop("401", None)
            if api_keys and is_open(path):
                operation["security"] = []
    if api_keys:
        out.setdefault("components", {})["securitySchemes"] = {
            API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
        }
        out["security"] = [{API_KEY_SCHEME: []}]
    return out


def form_schema(schema: dict[str, Any], *, max_images: int) -> dict[str, Any]:
    """A multipart body's object schema with each `anyOf [T, null]` property written as T (its title,
    description and any default but None kept), every file part marked `format: binary`, and the limits on the
    `gallery`, `identity` and `images` fields."""
    props = {name: _file_format(_not_null(prop)) for name, prop in schema.get("properties", {}).items()}
    limits = {
        ("gallery", "string"): {"pattern": GALLERY_NAME.pattern},
        ("identity", "string"): {"minLength": 1, "maxLength": MAX_IDENTITY_CHARS},
        ("images", "array"): {"minItems": 1, "maxItems": max_images},
    }
    for (name, kind), extra in limits.items():
        if props.get(name, {}).get("type") == kind:
            props[name] = {**props[name], **extra}
    return {**schema, "properties": props}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    options = prop.get("anyOf")
    if not isinstance(options, list):
        return prop
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(options):
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**kept[0], **rest}


def _file_format(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        return {**prop, "items": _file_format(prop["items"])}
    if prop.get("type") == "string" and "contentMediaType" in prop:
        return {**prop, "format": "binary"}
    return prop


def _multipart_bodies(operation: dict[str, Any]) -> list[str]:
    """The component names of the operation's multipart/form-data body schemas."""
    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("multipart/form-data", {}).get("schema", {}).get("$ref", "")
    return [ref.removeprefix(SCHEMA_PREFIX)] if ref.startswith(SCHEMA_PREFIX) else []


def _plain_parameters(operation: dict[str, Any], *, gallery_path: bool) -> None:
    """Optional parameters as their type alone (a header or query parameter is sent or not, never null), and, on
    a gallery's path, the gallery-name pattern on `{name}`."""
    for param in operation.get("parameters", []):
        if "schema" in param and not param.get("required", False):
            param["schema"] = _not_null(param["schema"])
        if param.get("in") == "path" and param.get("name") == "name" and gallery_path:
            param.setdefault("schema", {})["pattern"] = GALLERY_NAME.pattern
