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
