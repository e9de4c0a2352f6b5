"""Images: list and search, details, upload (the browser streams the file to the dashboard,
which streams it on to UploadImageData in chunks: constant memory), delete, share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dashboard.auth import require_user
from dashboard.i18n import _
from dashboard.web import back, enum_label, flash, list_page, redirect, render
from stratus.image.v1 import image_service_pb2 as ipb

DISK_FORMATS = ["raw", "qcow2", "iso", "vmdk", "vdi", "vhd", "vhdx"]
VISIBILITIES = ["private", "shared", "community", "public"]
CHUNK = 256 * 1024


def disk_format(image: ipb.Image) -> str:
    return enum_label(ipb.DiskFormat, image.disk_format, "DISK_FORMAT_")


def status(image: ipb.Image) -> str:
    return enum_label(ipb.ImageStatus, image.status, "IMAGE_STATUS_")


def visibility(image: ipb.Image) -> str:
    return enum_label(ipb.ImageVisibility, image.visibility, "IMAGE_VISIBILITY_")


DESCRIBE = {"status": status, "disk_format": disk_format, "visibility": visibility}


async def image_list(request: Request) -> Response:
    user = require_user(request)
    call = request.app.state.api.image.ListImages
    reply, paging = await list_page(request, user, call, ipb.ListImagesRequest, "name")
    return render(
        request,
        "images.html",
        images=reply.images,
        disk_formats=DISK_FORMATS,
        visibilities=VISIBILITIES,
        describe=DESCRIBE,
        **paging,
    )


async def image_detail(request: Request) -> Response:
    user = require_user(request)
    api = request.app.state.api
    image = await api.image.GetImage(
        ipb.GetImageRequest(id=request.path_params["image_id"]), metadata=user.metadata
    )
    members = []
    # The owner sees every member project; a member project sees its own membership.
    if image.visibility == ipb.IMAGE_VISIBILITY_SHARED:
        members = (
            await api.image.ListMembers(
                ipb.ListMembersRequest(image_id=image.id), metadata=user.metadata
            )
        ).members
    return render(
        request,
        "image.html",
        image=image,
        members=members,
        member_status=lambda m: enum_label(ipb.MemberStatus, m.status, "MEMBER_STATUS_"),
        describe=DESCRIBE,
    )


async def _chunks(
    image_id: str, size: int | None, body: AsyncIterator[bytes]
) -> AsyncIterator[ipb.UploadImageDataRequest]:
    first = ipb.UploadImageDataRequest(image_id=image_id)
    if size is not None:
        first.size = size
    yield first
    pending = bytearray()
    async for piece in body:
        pending += piece
        if len(pending) >= CHUNK:
            yield ipb.UploadImageDataRequest(data=bytes(pending))
            pending.clear()
    yield ipb.UploadImageDataRequest(data=bytes(pending), last=True)


async def image_upload(request: Request) -> Response:
    """PUT /images/upload?name=..&disk_format=..&visibility=..: the request body is the file.
    The image is created first, then its bytes follow as they arrive."""
    user = require_user(request)
    api = request.app.state.api
    params = request.query_params
    # Enum fields take their value names; a value outside the lists is UNSPECIFIED, which the
    # controller refuses with its own message.
    fmt = params.get("disk_format", "raw")
    vis = params.get("visibility", "private")
    wanted_format = (
        f"DISK_FORMAT_{fmt.upper()}" if fmt in DISK_FORMATS else "DISK_FORMAT_UNSPECIFIED"
    )
    wanted_visibility = (
        f"IMAGE_VISIBILITY_{vis.upper()}" if vis in VISIBILITIES else "IMAGE_VISIBILITY_UNSPECIFIED"
    )
    image = await api.image.CreateImage(
        ipb.CreateImageRequest(
            image=ipb.Image(
                name=params.get("name", ""),
                disk_format=wanted_format,
                container_format=ipb.CONTAINER_FORMAT_BARE,
                visibility=wanted_visibility,
            )
        ),
        metadata=user.metadata,
    )
    length = request.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    try:
        image = await api.image.UploadImageData(
            _chunks(image.id, size, request.stream()), metadata=user.metadata
        )
    except BaseException as error:
        # An image with no data is of no use to anyone: a failed upload leaves nothing.
        await api.image.DeleteImage(ipb.DeleteImageRequest(id=image.id), metadata=user.metadata)
        if isinstance(error, grpc.aio.AioRpcError):
            return JSONResponse({"error": error.details()}, status_code=400)
        raise
    flash(request, _("Image %(name)s uploaded.", name=image.name))
    return JSONResponse({"id": image.id, "status": status(image)})


async def image_delete(request: Request) -> Response:
    user = require_user(request)
    image_id = request.path_params["image_id"]
    await request.app.state.api.image.DeleteImage(
        ipb.DeleteImageRequest(id=image_id), metadata=user.metadata
    )
    flash(request, _("Image deleted."))
    return redirect("/images")


async def image_share(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    image_id = request.path_params["image_id"]
    await request.app.state.api.image.AddMember(
        ipb.AddMemberRequest(image_id=image_id, member_id=str(form.get("project_id", "")).strip()),
        metadata=user.metadata,
    )
    flash(request, _("Image shared; the project sees it once it accepts."))
    return back(request, f"/images/{image_id}")


async def image_membership(request: Request) -> Response:
    """A member project accepts an image shared with it (it then shows in its lists) or
    rejects it."""
    user = require_user(request)
    form = await request.form()
    image_id = request.path_params["image_id"]
    wanted = {"accepted": ipb.MEMBER_STATUS_ACCEPTED, "rejected": ipb.MEMBER_STATUS_REJECTED}
    await request.app.state.api.image.UpdateMember(
        ipb.UpdateMemberRequest(
            image_id=image_id,
            member_id=user.project_id,
            status=wanted.get(str(form.get("status", "")), ipb.MEMBER_STATUS_UNSPECIFIED),
        ),
        metadata=user.metadata,
    )
    flash(request, _("Membership updated."))
    return back(request, f"/images/{image_id}")


routes = [
    Route("/images", image_list, methods=["GET"]),
    Route("/images/upload", image_upload, methods=["PUT"]),
    Route("/images/{image_id}", image_detail, methods=["GET"]),
    Route("/images/{image_id}/delete", image_delete, methods=["POST"]),
    Route("/images/{image_id}/share", image_share, methods=["POST"]),
    Route("/images/{image_id}/membership", image_membership, methods=["POST"]),
]
