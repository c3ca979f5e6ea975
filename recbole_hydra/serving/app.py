"""The HTTP interface (FastAPI): routes that parse, hand the work to the engine, and shape replies.

Every reply says which model version made it. Every error is `{"error": "<one line>"}` with a 4xx
or 5xx status: 400 for a malformed request (the line names the field), 404 for an unknown item or
route, 401/403 on the admin route, 409 while a swap runs, 422 for a refused checkpoint, 503 when
the store is unavailable. The OpenAPI page is /docs (schema /openapi.json).
"""

import asyncio
import hmac
import json
import time
from typing import Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException

from recbole_hydra.serving import payloads
from recbole_hydra.serving.engine import RequestError

ROUTES = ("/events", "/recommend", "/health", "/metrics", "/admin/model")  # metric labels; others are "other"


def error(status, message):
    return JSONResponse({"error": message}, status_code=status)


def reply_dict(reply):
    return {"user": reply.user, "items": reply.items, "scores": reply.scores, "cold_start": reply.cold_start}


class Measured:
    """ASGI middleware: request count by route and status, and latency by route (no per-request task,
    unlike Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app, metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"
        start, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.requests.labels(route, str(status[0])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


async def _json(request):
    try:
        return json.loads(await request.body())
    except ValueError as problem:
        raise payloads.bad(f"body: not JSON ({problem})") from None


TOKEN_HINT = "start the server with --admin-token or HYDRAREC_ADMIN_TOKEN"


def create_app(engine, admin_token=None, admin_off=TOKEN_HINT):
    """The FastAPI app over `engine`; admin routes need `admin_token` (None: they are off, and say `admin_off`)."""
    app = FastAPI(
        title="HydraRec",
        description="Sequential recommendations from per-user recurrent states (recbole-hydra). See docs/serving.md.",
    )

    @app.exception_handler(RequestError)
    async def request_error(request, problem):
        return error(problem.status, str(problem))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, problem):
        first = problem.errors()[0]
        return error(400, f"{first['loc'][-1]}: {first['msg']}")

    @app.exception_handler(HTTPException)
    async def http_error(request, problem):
        return error(problem.status_code, f"{request.method} {request.url.path}: {problem.detail}")

    async def wait(future):
        return await asyncio.wrap_future(future)

    @app.post("/events", openapi_extra={"requestBody": payloads.EVENTS_BODY})
    async def post_events(
        request: Request,
        k: Optional[int] = Query(None, description="also return each user's top k after the events"),
        exclude_seen: bool = Query(True, description="leave out items the user has had"),
    ):
        """Append one event or a list of them, in order per user; the reply comes once they are durable."""
        events = payloads.events(await _json(request))
        k = None if k is None else payloads.k(k)
        result = await wait(engine.post_events(events, k, exclude_seen))
        reply = {"model_version": result["model_version"], "accepted": len(events), "seqs": result["seqs"]}
        if k is not None:
            reply["recommendations"] = [reply_dict(r) for r in result["recommendations"]]
        return reply

    @app.get("/recommend")
    async def recommend(
        user: str = Query(..., description="user token"),
        k: int = Query(10, description=f"how many items, 1 to {payloads.MAX_K}"),
        exclude_seen: bool = Query(True, description="leave out items the user has had"),
    ):
        """The user's top k items and scores; a user without events gets the cold-start list, and says so."""
        user, k = payloads.token(user, "user"), payloads.k(k)
        version, (reply,) = await wait(engine.recommend([user], k, exclude_seen))
        return {"model_version": version, **reply_dict(reply)}

    @app.post("/recommend", openapi_extra={"requestBody": payloads.RECOMMEND_BODY})
    async def recommend_batch(request: Request):
        """recommend for a list of users: {users, k, exclude_seen}."""
        users, k, exclude_seen = payloads.recommend_batch(await _json(request))
        version, replies = await wait(engine.recommend(users, k, exclude_seen))
        return {"model_version": version, "results": [reply_dict(r) for r in replies]}

    @app.get("/health")
    async def health():
        """The model version and checkpoint, users held, the store, this process."""
        return engine.health()

    @app.get("/metrics")
    async def metrics():
        """Prometheus text format: requests, latency histograms, events, users held, model version."""
        return Response(engine.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/model", openapi_extra={"requestBody": payloads.MODEL_BODY})
    async def swap_model(request: Request):
        """Serve another checkpoint: rebuilt from the event logs in the background, then switched between two
        requests. Needs `Authorization: Bearer <admin token>`."""
        if admin_token is None:
            raise RequestError(403, f"admin routes are off: {admin_off}")
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {admin_token}".encode()):
            raise RequestError(401, "authorization: expected 'Bearer <admin token>'")
        path = payloads.checkpoint(await _json(request))
        return await asyncio.get_running_loop().run_in_executor(None, engine.swap, path)

    app.add_middleware(Measured, metrics=engine.metrics)
    return app
