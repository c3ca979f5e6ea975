"""Request bodies and parameters, checked: every problem is a 400 with one line that names the field
(`events[3].item: missing`). Plain functions on parsed JSON, so the HTTP layer stays thin.
"""

import math

from recbole_hydra.serving.engine import RequestError
from recbole_hydra.serving.store import Event

MAX_EVENTS = 10_000  # per request
MAX_USERS = 1_000  # per batch recommendation
MAX_K = 1_000
MAX_TOKEN = 256  # characters in a user or item token
EVENT_FIELDS = ("user", "item", "timestamp")

# JSON schemas for the OpenAPI page (FastAPI would derive them from pydantic models, but pydantic 1
# reads a one-element list as an object where an event or a list of events is allowed).
EVENT_SCHEMA = {
    "type": "object",
    "required": ["user", "item"],
    "properties": {
        "user": {"type": ["string", "integer"], "description": "user token (a new user starts empty)"},
        "item": {"type": ["string", "integer"], "description": "item token of the model's catalogue"},
        "timestamp": {"type": "number", "description": "stored with the event; the order is the arrival order"},
    },
}
EVENTS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [EVENT_SCHEMA, {"type": "array", "items": EVENT_SCHEMA, "maxItems": MAX_EVENTS}]}
        }
    },
}
RECOMMEND_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["users"],
                "properties": {
                    "users": {"type": "array", "items": {"type": ["string", "integer"]}, "maxItems": MAX_USERS},
                    "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                    "exclude_seen": {"type": "boolean", "default": True},
                },
            }
        }
    },
}
MODEL_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["checkpoint"],
                "properties": {"checkpoint": {"type": "string", "description": "a checkpoint file on the server"}},
            }
        }
    },
}


def bad(message):
    return RequestError(400, message)


def token(value, field):
    """A user or item token: a non-empty string or an integer, as a string (196 and "196" are one token)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad(f"{field}: expected a string or an integer, got {type(value).__name__}")
    text = str(value)
    if not text or len(text) > MAX_TOKEN or not text.isprintable():
        raise bad(f"{field}: expected 1 to {MAX_TOKEN} printable characters, got {text[:40]!r}")
    return text


def events(body):
    """[Event]: one event object, or a list of them."""
    single = isinstance(body, dict)
    if not single and not isinstance(body, list):
        raise bad(f"body: expected an event {{user, item[, timestamp]}} or a list of them, got {_kind(body)}")
    entries = [body] if single else body
    if not entries:
        raise bad("body: the list of events is empty")
    if len(entries) > MAX_EVENTS:
        raise bad(f"body: {len(entries)} events, at most {MAX_EVENTS} per request")
    parsed = []
    for n, entry in enumerate(entries):
        where = "" if single else f"events[{n}]."
        if not isinstance(entry, dict):
            raise bad(f"events[{n}]: expected an object {{user, item[, timestamp]}}, got {_kind(entry)}")
        unknown = sorted(set(entry) - set(EVENT_FIELDS))
        if unknown:
            raise bad(f"{where}{unknown[0]}: unknown field (an event has {', '.join(EVENT_FIELDS)})")
        for field in ("user", "item"):
            if field not in entry:
                raise bad(f"{where}{field}: missing")
        parsed.append(
            Event(
                token(entry["user"], where + "user"),
                token(entry["item"], where + "item"),
                timestamp(entry.get("timestamp"), where + "timestamp"),
            )
        )
    return parsed


def timestamp(value, field):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(f"{field}: expected a finite number, got {value!r}")
    return float(value)


def k(value, field="k"):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
        raise bad(f"{field}: expected an integer from 1 to {MAX_K}, got {value!r}")
    return value


def recommend_batch(body):
    """(users, k, exclude_seen) of a batch recommendation {users, k?, exclude_seen?}."""
    if not isinstance(body, dict):
        raise bad(f"body: expected an object {{users, k, exclude_seen}}, got {_kind(body)}")
    unknown = sorted(set(body) - {"users", "k", "exclude_seen"})
    if unknown:
        raise bad(f"{unknown[0]}: unknown field (expected users, k, exclude_seen)")
    users = body.get("users")
    if not isinstance(users, list) or not users:
        raise bad(f"users: expected a non-empty list of user tokens, got {_kind(users)}")
    if len(users) > MAX_USERS:
        raise bad(f"users: {len(users)} users, at most {MAX_USERS} per request")
    exclude_seen = body.get("exclude_seen", True)
    if not isinstance(exclude_seen, bool):
        raise bad(f"exclude_seen: expected true or false, got {exclude_seen!r}")
    return [token(user, f"users[{n}]") for n, user in enumerate(users)], k(body.get("k", 10)), exclude_seen


def checkpoint(body):
    if not isinstance(body, dict) or not isinstance(body.get("checkpoint"), str) or not body["checkpoint"]:
        raise bad('checkpoint: expected {"checkpoint": "path of a checkpoint file on the server"}')
    return body["checkpoint"]


def _kind(value):
    return "nothing" if value is None else type(value).__name__
