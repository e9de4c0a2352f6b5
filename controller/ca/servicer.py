"""stratus.ca.v1 servicers: validate, call the domain, convert. Nothing else.

CertificateAuthorityServicer is on the public listener; NodeCertificateServicer on the node
listener, where the caller's identity is its verified client certificate.
"""

from __future__ import annotations

import datetime
import re

from controller import node_listener, validation
from controller.auth import context as auth_context
from controller.ca import convert, tokens
from controller.ca.authority import fingerprint_sha256
from controller.ca.certificates import CertificateService
from controller.db import paging
from controller.db.paging import Page, page_request
from controller.rpc.policy_spec import rpc
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc
from stratus_common import errors

_SERIAL = re.compile(r"^[0-9a-f]{1,40}$")


def _serial(value: str, field: str = "serial_number") -> str:
    serial = value.strip().lower()
    if not _SERIAL.match(serial):
        raise errors.InvalidArgument(field, "must be a certificate serial number in hex")
    return serial


def _csr(value: str) -> bytes:
    if not value:
        raise errors.InvalidArgument("csr_pem", "is required")
    return value.encode()


def _after(page: Page):
    if page.after is None:
        return None
    try:
        created, serial = page.after
        if not isinstance(created, datetime.datetime):
            raise TypeError("not a time")
        return created, _serial(serial, "page_token")
    except (TypeError, ValueError):
        raise errors.InvalidArgument("page_token", "is not a token this server issued") from None


class CertificateAuthorityServicer(pb_grpc.CertificateAuthorityServiceServicer):
    def __init__(self, db, certificates: CertificateService):
        self.db = db
        self.ca = certificates

    @rpc.open
    async def GetCACertificate(self, request, context):
        return convert.ca_certificate(self.ca.authority.certificate)

    @rpc("ca:create_enrollment_token")
    async def CreateEnrollmentToken(self, request, context):
        if not request.host_name:
            raise errors.InvalidArgument("host_name", "is required")
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else tokens.DEFAULT_TTL
        caller = auth_context.current.get().user_id
        token, secret = await self.db.run(
            self.ca.create_enrollment_token, request.host_name, ttl, caller
        )
        return convert.enrollment_token(
            token, secret, fingerprint_sha256(self.ca.authority.certificate)
        )

    @rpc.open  # the one-time enrollment token is the credential
    async def EnrollNode(self, request, context):
        csr = _csr(request.csr_pem)
        record = await self.db.run(self.ca.enroll, request.token, csr)
        return pb.EnrollNodeResponse(
            certificate=convert.certificate(record, self.ca.clock()),
            ca_certificate_pem=self.ca.authority.certificate_pem.decode(),
        )

    @rpc("ca:revoke_certificate")
    async def RevokeCertificate(self, request, context):
        serial = _serial(request.serial_number)
        reason = validation.text("reason", request.reason, 255)
        record = await self.db.run(self.ca.revoke, serial, reason)
        return convert.certificate(record, self.ca.clock())

    @rpc("ca:get_certificate")
    async def GetCertificate(self, request, context):
        record = await self.db.run(self.ca.get, _serial(request.serial_number))
        return convert.certificate(record, self.ca.clock())

    @rpc("ca:list_certificates")
    async def ListCertificates(self, request, context):
        status = None
        if request.status:
            if request.status not in convert.STATUS_FILTERS:
                raise errors.InvalidArgument("status", "is not a known certificate status")
            status = convert.STATUS_FILTERS[request.status]
        host_name = request.host_name or None
        page = page_request(
            request.page_size,
            request.page_token,
            {"host_name": host_name, "status": request.status},
        )
        records = await self.db.run(
            self.ca.list,
            host_name=host_name,
            status=status,
            after=_after(page),
            limit=page.size + 1,
        )
        records, token = paging.cut(page, records, lambda last: [last.created_at, last.serial])
        now = self.ca.clock()
        return pb.ListCertificatesResponse(
            certificates=[convert.certificate(r, now) for r in records], next_page_token=token
        )

    @rpc.open  # a CRL is public and signed
    async def GetCRL(self, request, context):
        return convert.crl(await self.db.run(self.ca.crl))


class NodeCertificateServicer(pb_grpc.NodeCertificateServiceServicer):
    """On the node listener only: the peer identity comes from its client certificate."""

    def __init__(self, db, certificates: CertificateService):
        self.db = db
        self.ca = certificates

    @rpc.open  # no bearer token: the node listener's mutual TLS authenticated the caller
    async def RenewCertificate(self, request, context):
        peer = node_listener.current_peer()
        record = await self.db.run(
            self.ca.renew, peer.host_name, peer.serial, _csr(request.csr_pem)
        )
        return pb.RenewCertificateResponse(
            certificate=convert.certificate(record, self.ca.clock()),
            ca_certificate_pem=self.ca.authority.certificate_pem.decode(),
        )
