"""Image commands: create (with upload), list, show, set, unset, delete, save (download),
deactivate, reactivate, and sharing with other projects."""

import argparse
import hashlib
import os
import sys
import uuid
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2

from cli import auth, resources
from cli.errors import CliError, UsageError
from cli.progress import human_bytes
from cli.registry import arg, command, group
from stratus.image.v1 import image_service_pb2 as pb
from stratus.image.v1 import image_service_pb2_grpc as pb_grpc

group("image", "images")
group("image add", "share an image")
group("image remove", "stop sharing an image")
group("image member", "the projects an image is shared with")

DISK = pb.DiskFormat.DESCRIPTOR
CONTAINER = pb.ContainerFormat.DESCRIPTOR
VISIBILITY = pb.ImageVisibility.DESCRIPTOR
STATUS = pb.ImageStatus.DESCRIPTOR
MEMBER = pb.MemberStatus.DESCRIPTOR
CHUNK = 1024 * 1024


def images(ctx) -> pb_grpc.ImageServiceStub:
    return ctx.session.stub(pb_grpc.ImageServiceStub)


def call(ctx, method: str, request):
    return ctx.session.call(getattr(images(ctx), method), request)


def find_image(ctx, name_or_id):
    return resources.find(
        "image",
        name_or_id,
        get=lambda i: call(ctx, "GetImage", pb.GetImageRequest(id=i)),
        by_name=lambda n: ctx.session.paged(
            images(ctx).ListImages, pb.ListImagesRequest(name=n), "images"
        ),
    )


class ImageNames:
    """Image names by ID for listings of other resources: the images the caller can see are
    listed once, when the first ID is asked for, however many rows there are. An image that
    is gone or not visible keeps its ID."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.names: dict[str, str] | None = None

    def learn(self, image_ids) -> None:
        """Called with each page's IDs before its rows are shown."""
        if self.names is not None or not any(image_ids):
            return
        request = pb.ListImagesRequest(page_size=1000)  # the server's cap: fewest calls
        try:
            self.names = {
                image.id: image.name
                for image in self.ctx.session.paged(images(self.ctx).ListImages, request, "images")
            }
        except grpc.RpcError:  # names are a convenience: the listing shows IDs instead
            self.names = {}

    def name(self, image_id: str) -> str:
        return (self.names or {}).get(image_id) or image_id


def project_id(ctx, name_or_id: str) -> str:
    from cli.commands import identity

    return identity.find_project(ctx, name_or_id).id


def show_image(image, human: bool = False):
    fields = resources.to_dict(image)
    fields["created_at"] = fields.pop("create_time")
    fields["updated_at"] = fields.pop("update_time")
    size = image.size if image.HasField("size") else None
    fields["size"] = human_bytes(size) if human and size is not None else size
    fields["virtual_size"] = image.virtual_size if image.HasField("virtual_size") else None
    return resources.ShowResult(dict(sorted(fields.items())))


# -- options shared by create and set ------------------------------------------------------


def image_options(creating: bool):
    """The openstack client's image flags, on `image create` and `image set`."""

    def add(func):
        flags = [
            arg(
                "--disk-format",
                choices=resources.enum_choices(DISK),
                default="raw" if creating else None,
                help="disk format" + (" (default raw)" if creating else ""),
            ),
            arg(
                "--container-format",
                choices=resources.enum_choices(CONTAINER),
                default="bare" if creating else None,
                help="container format" + (" (default bare)" if creating else ""),
            ),
            arg("--min-disk", type=int, help="minimum disk size a server needs (GiB)"),
            arg("--min-ram", type=int, help="minimum memory a server needs (MiB)"),
            arg(
                "--public",
                dest="visibility",
                action="store_const",
                const="public",
                help="every project sees it (admins)",
            ),
            arg(
                "--private",
                dest="visibility",
                action="store_const",
                const="private",
                help="only your project sees it",
            ),
            arg(
                "--shared",
                dest="visibility",
                action="store_const",
                const="shared",
                help="your project and those it is shared with see it (default on create)",
            ),
            arg(
                "--community",
                dest="visibility",
                action="store_const",
                const="community",
                help="every project may use it",
            ),
            arg(
                "--protected",
                dest="protected",
                action="store_true",
                default=None,
                help="it cannot be deleted",
            ),
            arg(
                "--unprotected",
                dest="protected",
                action="store_false",
                help="it can be deleted (default on create)",
            ),
            resources.properties_arg("property (repeat for more)"),
            arg("--tag", dest="tags", action="append", default=[], help="tag (repeat for more)"),
        ]
        for flag in reversed(flags):
            func = flag(func)
        return func

    return add


def apply_options(image, args) -> list[str]:
    """Sets the fields the options give; the update mask paths for them."""
    paths = []
    for name, value in [
        ("disk_format", args.disk_format and resources.enum_number(DISK, args.disk_format)),
        (
            "container_format",
            args.container_format and resources.enum_number(CONTAINER, args.container_format),
        ),
        ("min_disk", args.min_disk),
        ("min_ram", args.min_ram),
        ("visibility", args.visibility and resources.enum_number(VISIBILITY, args.visibility)),
        ("protected", args.protected),
    ]:
        if value is not None:
            setattr(image, name, value)
            paths.append(name)
    if args.properties:
        image.properties.update(dict(args.properties))
        paths.append("properties")
    if args.tags:
        image.tags.extend(t for t in args.tags if t not in image.tags)
        paths.append("tags")
    return paths


# -- data ----------------------------------------------------------------------------------


def upload(ctx, image, path: str):
    """Streams the file (or stdin for "-") into the image, showing progress on a terminal."""
    size = None if path == "-" else os.stat(path).st_size

    def requests():
        # Closed in the finally below, once the stream has been sent.
        source = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        first = pb.UploadImageDataRequest(image_id=image.id)
        if size is not None:
            first.size = size
        with ctx.progress(size, label=f"upload {image.name or image.id}") as progress:
            try:
                yield first
                while chunk := source.read(CHUNK):
                    progress.update(len(chunk))
                    yield pb.UploadImageDataRequest(data=chunk)
                yield pb.UploadImageDataRequest(last=True)
            finally:
                if source is not sys.stdin.buffer:
                    source.close()

    return ctx.session.call(images(ctx).UploadImageData, requests, timeout=None)


# Large writes into the page cache were many times slower than 64 KiB ones on the Linux
# 6.18 virtual machines the benchmarks run on (stratus_common/files.py, which the CLI does
# not import).
WRITE_SLICE = 64 * 1024


def _write_in_slices(out, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), WRITE_SLICE):
        out.write(view[start : start + WRITE_SLICE])


def download(ctx, image, out) -> None:
    """Streams the image's data into `out`, checking its size and sha512 on the way."""
    stream = ctx.session.stream(
        images(ctx).DownloadImageData, pb.DownloadImageDataRequest(image_id=image.id)
    )
    digest, received, info = hashlib.sha512(), 0, None
    progress = ctx.progress(
        image.size if image.HasField("size") else None, label=f"download {image.name or image.id}"
    )
    with progress:
        for message in stream:
            if message.HasField("info"):
                info = message.info
            data = message.data  # each read of a bytes field copies it: read it once
            _write_in_slices(out, data)
            digest.update(data)
            received += len(data)
            progress.update(len(data))
    if info is not None and received != info.size:
        raise CliError(
            f"the download ended after {received} of {info.size} bytes; run the command again"
        )
    if (
        info is not None
        and info.os_hash_algo == "sha512"
        and digest.hexdigest() != info.os_hash_value
    ):
        raise CliError(
            "the downloaded data does not match the image's sha512 hash; run the command again"
        )


# -- commands ------------------------------------------------------------------------------


@command(
    "image create",
    help="create an image, uploading its data",
    output="show",
    columns=resources.fields_of(show_image, pb.Image),
)
@arg("name", help="new image name")
@arg("--id", default="", help="image ID (default: a UUID)")
@arg("--file", metavar="FILE", completer="file", help="upload the data from FILE ('-': stdin)")
@image_options(creating=True)
def image_create(ctx, args):
    if args.file and args.file != "-" and not Path(args.file).is_file():
        raise UsageError(f"--file {args.file}: no such file")
    image = pb.Image(id=args.id, name=args.name)
    apply_options(image, args)
    created = call(
        ctx, "CreateImage", pb.CreateImageRequest(image=image, request_id=str(uuid.uuid4()))
    )
    if args.file:
        try:
            created = upload(ctx, created, args.file)
        except BaseException:
            ctx.stderr.write(
                f"stratus: image {created.id} was created but its data was not "
                f"uploaded; delete it (stratus image delete {created.id}) and "
                "create it again\n"
            )
            raise
    return show_image(created)


SORT_KEYS = ("name", "status", "size", "create_time", "update_time")


def _sort_key(text: str) -> str:
    """argparse type of `--sort KEY[:asc|desc]` (the openstack client's form), as order_by."""
    key, _, direction = text.partition(":")
    if key not in SORT_KEYS or direction not in ("", "asc", "desc"):
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(SORT_KEYS)}, optionally with :asc or :desc, not {text!r}"
        )
    return f"{key} {direction or 'asc'}"


IMAGE_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name"), ("Status", "status")],
    long=[
        ("Disk Format", "disk_format"),
        ("Container Format", "container_format"),
        ("Size", lambda i: i.size if i.HasField("size") else None),
        ("Checksum", "checksum"),
        ("Visibility", "visibility"),
        ("Protected", "protected"),
        ("Project", "owner"),
        ("Tags", "tags"),
    ],
)


@command("image list", help="list images", output="list", columns=IMAGE_COLUMNS.headings)
@arg("--public", dest="visibility", action="store_const", const="public", help="only public images")
@arg(
    "--private",
    dest="visibility",
    action="store_const",
    const="private",
    help="only private images",
)
@arg("--shared", dest="visibility", action="store_const", const="shared", help="only shared images")
@arg(
    "--community",
    dest="visibility",
    action="store_const",
    const="community",
    help="community images",
)
@arg("--name", default="", help="only images of this name")
@arg("--status", choices=resources.enum_choices(STATUS), help="only images in this status")
@arg("--project", help="only this project's images (name or ID)")
@arg(
    "--member-status",
    choices=resources.enum_choices(MEMBER),
    help="shared images of this member status (default accepted)",
)
@arg("--tag", dest="tags", action="append", default=[], help="only images with this tag")
@resources.properties_arg("only images with this property")
@arg(
    "--sort",
    type=_sort_key,
    metavar="KEY[:asc|desc]",
    help="order by name, status, size, create_time or update_time (default create_time:asc)",
)
@arg("--long", action="store_true", help="list more columns")
def image_list(ctx, args):
    request = pb.ListImagesRequest(
        name=args.name, tags=args.tags, properties=dict(args.properties), order_by=args.sort or ""
    )
    if args.visibility:
        request.visibility = resources.enum_number(VISIBILITY, args.visibility)
    if args.status:
        request.status = resources.enum_number(STATUS, args.status)
    if args.member_status:
        request.member_status = resources.enum_number(MEMBER, args.member_status)
    if args.project:
        request.owner = project_id(ctx, args.project)
    return resources.listing(
        ctx.session.paged(images(ctx).ListImages, request, "images"), IMAGE_COLUMNS.chosen(args)
    )


@command(
    "image show",
    help="show an image's details",
    output="show",
    columns=resources.fields_of(show_image, pb.Image),
)
@arg("image", help="image name or ID")
@arg("--human-readable", action="store_true", help="sizes in KiB, MiB, GiB")
def image_show(ctx, args):
    return show_image(find_image(ctx, args.image), human=args.human_readable)


def set_member_status(ctx, image, status: str, project: str | None):
    member_id = project_id(ctx, project) if project else auth.caller(ctx.session).project_id
    call(
        ctx,
        "UpdateMember",
        pb.UpdateMemberRequest(
            image_id=image.id, member_id=member_id, status=resources.enum_number(MEMBER, status)
        ),
    )


def member_flags(func):
    for flag in reversed(
        [
            arg(
                "--accept",
                dest="member_status",
                action="store_const",
                const="accepted",
                help="accept the image shared with your project",
            ),
            arg(
                "--reject",
                dest="member_status",
                action="store_const",
                const="rejected",
                help="reject the image shared with your project",
            ),
            arg(
                "--pending",
                dest="member_status",
                action="store_const",
                const="pending",
                help="set the shared image back to pending",
            ),
            arg(
                "--project",
                dest="member_project",
                metavar="PROJECT",
                help="the member project (default: yours)",
            ),
        ]
    ):
        func = flag(func)
    return func


@command("image set", help="change an image")
@arg("image", help="image name or ID")
@arg("--name", help="new name")
@image_options(creating=False)
@arg(
    "--deactivate",
    dest="activation",
    action="store_const",
    const="DeactivateImage",
    help="deactivate the image (admins)",
)
@arg(
    "--activate",
    dest="activation",
    action="store_const",
    const="ReactivateImage",
    help="reactivate the image (admins)",
)
@member_flags
def image_set(ctx, args):
    image = find_image(ctx, args.image)
    paths = apply_options(image, args)
    if args.name is not None:
        image.name = args.name
        paths.append("name")
    if not (paths or args.activation or args.member_status):
        raise UsageError("nothing to change: give at least one option")
    if paths:
        call(
            ctx,
            "UpdateImage",
            pb.UpdateImageRequest(image=image, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        )
    if args.activation:
        call(ctx, args.activation, getattr(pb, f"{args.activation}Request")(id=image.id))
    if args.member_status:
        set_member_status(ctx, image, args.member_status, args.member_project)


@command("image unset", help="remove an image's properties or tags")
@arg("image", help="image name or ID")
@arg(
    "--property",
    dest="properties",
    action="append",
    default=[],
    metavar="KEY",
    help="property to remove (repeat for more)",
)
@arg("--tag", dest="tags", action="append", default=[], help="tag to remove (repeat for more)")
def image_unset(ctx, args):
    image = find_image(ctx, args.image)
    paths = []
    if args.properties:
        missing = [k for k in args.properties if k not in image.properties]
        if missing:
            raise CliError(f"image {image.name} has no property {', '.join(missing)}")
        for key in args.properties:
            del image.properties[key]
        paths.append("properties")
    if args.tags:
        kept = [t for t in image.tags if t not in args.tags]
        del image.tags[:]
        image.tags.extend(kept)
        paths.append("tags")
    if not paths:
        raise UsageError("nothing to change: give --property or --tag")
    call(
        ctx,
        "UpdateImage",
        pb.UpdateImageRequest(image=image, update_mask=field_mask_pb2.FieldMask(paths=paths)),
    )


@command("image delete", help="delete images")
@arg("images", nargs="+", metavar="IMAGE", help="image name or ID")
def image_delete(ctx, args):
    resources.delete_each(
        ctx,
        "image",
        args.images,
        lambda name: call(ctx, "DeleteImage", pb.DeleteImageRequest(id=find_image(ctx, name).id)),
    )


@command("image save", help="download an image's data")
@arg("image", help="image name or ID")
@arg("--file", metavar="FILE", completer="file", help="write to FILE (default: standard output)")
def image_save(ctx, args):
    image = find_image(ctx, args.image)
    if not args.file:
        if ctx.stdout.isatty():
            raise UsageError(
                "refusing to write image data to a terminal: give --file or redirect the output"
            )
        ctx.stdout.flush()
        download(ctx, image, ctx.stdout.buffer)
        return
    target = Path(args.file)
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "wb") as out:
            download(ctx, image, out)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@command("image deactivate", help="deactivate an image: only admins may download it")
@arg("image", help="image name or ID")
def image_deactivate(ctx, args):
    call(ctx, "DeactivateImage", pb.DeactivateImageRequest(id=find_image(ctx, args.image).id))


@command("image reactivate", help="reactivate a deactivated image")
@arg("image", help="image name or ID")
def image_reactivate(ctx, args):
    call(ctx, "ReactivateImage", pb.ReactivateImageRequest(id=find_image(ctx, args.image).id))


@command(
    "image add project",
    help="share an image with a project",
    output="show",
    columns=resources.fields_of(resources.show, pb.Member),
)
@arg("image", help="image name or ID")
@arg("project", help="project name or ID")
def image_add_project(ctx, args):
    image = find_image(ctx, args.image)
    return resources.show(
        call(
            ctx,
            "AddMember",
            pb.AddMemberRequest(image_id=image.id, member_id=project_id(ctx, args.project)),
        )
    )


@command("image remove project", help="stop sharing an image with a project")
@arg("image", help="image name or ID")
@arg("project", help="project name or ID")
def image_remove_project(ctx, args):
    image = find_image(ctx, args.image)
    call(
        ctx,
        "RemoveMember",
        pb.RemoveMemberRequest(image_id=image.id, member_id=project_id(ctx, args.project)),
    )


MEMBER_COLUMNS = resources.Columns(
    [("Image ID", "image_id"), ("Member ID", "member_id"), ("Status", "status")]
)


@command(
    "image member list",
    help="list the projects an image is shared with",
    output="list",
    columns=MEMBER_COLUMNS.headings,
)
@arg("image", help="image name or ID")
def image_member_list(ctx, args):
    image = find_image(ctx, args.image)
    return resources.listing(
        ctx.session.paged(
            images(ctx).ListMembers, pb.ListMembersRequest(image_id=image.id), "members"
        ),
        MEMBER_COLUMNS.chosen(args),
    )


@command("image member set", help="accept, reject or leave pending an image shared with you")
@arg("image", help="image name or ID")
@member_flags
def image_member_set(ctx, args):
    if not args.member_status:
        raise UsageError("give --accept, --reject or --pending")
    set_member_status(ctx, find_image(ctx, args.image), args.member_status, args.member_project)
