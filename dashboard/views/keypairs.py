"""Key pairs: list, create (the private key is sent once, as a download, and kept nowhere),
import a public key, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard.auth import require_user
from dashboard.i18n import _
from dashboard.web import flash, list_page, redirect, render
from stratus.compute.v1 import compute_service_pb2 as cpb


async def key_pair_list(request: Request) -> Response:
    user = require_user(request)
    call = request.app.state.api.compute.ListKeyPairs
    reply, paging = await list_page(request, user, call, cpb.ListKeyPairsRequest)
    # The API has no name filter for key pairs: the page filters what it was given.
    q = paging["listing"].q.lower()
    key_pairs = [k for k in reply.key_pairs if q in k.name.lower()]
    return render(request, "keypairs.html", key_pairs=key_pairs, **paging)


async def key_pair_create(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    public_key = str(form.get("public_key", "")).strip()
    key_pair = await request.app.state.api.compute.CreateKeyPair(
        cpb.CreateKeyPairRequest(
            key_pair=cpb.KeyPair(name=str(form.get("name", "")).strip(), public_key=public_key)
        ),
        metadata=user.metadata,
    )
    if public_key:
        flash(request, _("Key pair %(name)s imported.", name=key_pair.name))
        return redirect("/key-pairs")
    return Response(
        key_pair.private_key,
        media_type="application/x-pem-file",
        headers={"content-disposition": 'attachment; filename="private-key.pem"'},
    )


async def key_pair_delete(request: Request) -> Response:
    user = require_user(request)
    await request.app.state.api.compute.DeleteKeyPair(
        cpb.DeleteKeyPairRequest(name=request.path_params["name"]), metadata=user.metadata
    )
    flash(request, _("Key pair deleted."))
    return redirect("/key-pairs")


routes = [
    Route("/key-pairs", key_pair_list, methods=["GET"]),
    Route("/key-pairs", key_pair_create, methods=["POST"]),
    Route("/key-pairs/{name}/delete", key_pair_delete, methods=["POST"]),
]
