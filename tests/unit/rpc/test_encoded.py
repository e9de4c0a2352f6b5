"""Hand-framed messages are byte for byte what protobuf encodes, and decode as the message."""

import pytest
from google.protobuf import descriptor_pb2

from controller.rpc import encoded
from stratus.image.v1 import image_service_pb2 as image_pb
from stratus.node.v1 import node_service_pb2 as node_pb

SIZES = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 4 * 1024 * 1024]


@pytest.mark.parametrize("size", SIZES)
def test_a_data_message_is_what_protobuf_encodes(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    number = image_pb.DownloadImageDataResponse.DATA_FIELD_NUMBER
    wire = encoded.bytes_field(number, data).wire
    assert wire == image_pb.DownloadImageDataResponse(data=data).SerializeToString()
    assert image_pb.DownloadImageDataResponse.FromString(wire).data == data


def test_a_field_number_past_fifteen_takes_a_longer_tag():
    # FileOptions.php_namespace is field 41, a string: framed the same way as bytes.
    data = b"Stratus\\Images"
    wire = encoded.bytes_field(41, data).wire
    assert descriptor_pb2.FileOptions.FromString(wire).php_namespace == data.decode()
    assert wire == descriptor_pb2.FileOptions(php_namespace=data.decode()).SerializeToString()


def test_the_serializer_passes_encoded_bytes_and_serializes_messages():
    serialize = encoded.serializer(node_pb.FetchImageResponse)
    framed = encoded.bytes_field(node_pb.FetchImageResponse.DATA_FIELD_NUMBER, b"chunk")
    assert serialize(framed) == node_pb.FetchImageResponse(data=b"chunk").SerializeToString()
    message = node_pb.FetchImageResponse(data=b"other")
    assert serialize(message) == message.SerializeToString()


UPLOAD = image_pb.UploadImageDataRequest
parse = encoded.parse_one_field(UPLOAD)


@pytest.mark.parametrize("size", [1, 127, 128, 1024 * 1024])
def test_an_upload_chunk_is_taken_from_the_wire_and_reads_like_the_message(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    message = parse(UPLOAD(data=data).SerializeToString())
    assert message.data == data
    assert (message.image_id, message.last, message.expected_checksum) == ("", False, "")
    assert message.HasField("data") and not message.HasField("size")
    with pytest.raises(AttributeError):
        _ = message.no_such_field


@pytest.mark.parametrize(
    "request_message",
    [
        UPLOAD(image_id="9f5c3c1e-8a7e-4a59-9d7e-1f0c2b3a4d5e", data=b"chunk"),
        UPLOAD(data=b"chunk", last=True),
        UPLOAD(last=True),
        UPLOAD(),
    ],
)
def test_anything_more_than_the_data_field_is_left_to_protobuf(request_message):
    assert parse(request_message.SerializeToString()) is None


@pytest.mark.parametrize(
    "wire",
    [
        b"\x2a",  # the tag, no length
        b"\x2a\x05abc",  # shorter than its length
        b"\x2a\x02abc",  # longer than its length
        b"\x2a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a length that never ends
    ],
)
def test_a_malformed_chunk_is_left_to_protobuf(wire):
    assert parse(wire) is None


def test_only_the_listed_request_types_are_parsed_by_hand():
    assert encoded.parse_one_field(node_pb.FetchImageResponse) is None
