"""rest-xml round trips proven with botocore's own serializer (requests) and parser
(responses and errors), on S3's model."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.parsers import RestXMLParser
from botocore.serialize import RestXMLSerializer

from lambdalite.protocol import rest_xml
from lambdalite.protocol.model import load_model
from lambdalite.services.s3.errors import S3Fault, no_such_key

MODEL = load_model("s3")
NAMES = [
    "PutObject",
    "GetObject",
    "CopyObject",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "CreateMultipartUpload",
    "ListObjects",
    "ListObjectsV2",
    "DeleteObjects",
    "CreateBucket",
    "PutBucketTagging",
    "GetBucketTagging",
    "ListParts",
    "HeadObject",
]
ROUTES = rest_xml.RestRoutes(MODEL, NAMES)


def wire(name: str, params: dict[str, Any]) -> tuple[str, bytes, dict[str, str], dict[bytes, bytes], bytes]:
    """What botocore sends for ``name`` with ``params``: method, raw path, query, headers, body."""
    op = MODEL.operation_model(name)
    request = RestXMLSerializer().serialize_to_request(params, op)
    url = request["url_path"]
    path, _, query_string = url.partition("?")
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    query.update({k: str(v) for k, v in request["query_string"].items()})
    headers = {
        k.lower().encode(): v.encode() if isinstance(v, str) else v for k, v in request["headers"].items()
    }
    body = request["body"]
    body = body.encode() if isinstance(body, str) else body or b""
    return request["method"], urlsplit(path).path.encode(), query, headers, body


def parse(name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    method, raw_path, query, headers, body = wire(name, params)
    matched = ROUTES.match(method, rest_xml.split_path(raw_path), query, headers)
    assert matched is not None
    op, labels = matched
    streaming = op.name in ("PutObject", "UploadPart")
    return op.name, rest_xml.parse(op, labels, headers, query, None if streaming else body)


def test_object_operations_are_told_apart_by_query_and_headers() -> None:
    base = {"Bucket": "b", "Key": "k"}
    assert parse("PutObject", {**base, "Body": b"x"})[0] == "PutObject"
    assert parse("CopyObject", {**base, "CopySource": "b/src"})[0] == "CopyObject"
    assert parse("UploadPart", {**base, "UploadId": "u", "PartNumber": 2, "Body": b"x"})[0] == "UploadPart"
    assert (
        parse("UploadPartCopy", {**base, "UploadId": "u", "PartNumber": 2, "CopySource": "b/s"})[0]
        == "UploadPartCopy"
    )
    assert parse("CreateMultipartUpload", base)[0] == "CreateMultipartUpload"
    assert parse("ListParts", {**base, "UploadId": "u"})[0] == "ListParts"
    assert parse("GetObject", base)[0] == "GetObject"
    assert parse("ListObjectsV2", {"Bucket": "b"})[0] == "ListObjectsV2"
    assert parse("ListObjects", {"Bucket": "b"})[0] == "ListObjects"


def test_labels_headers_query_and_user_metadata() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    _, parsed = parse(
        "GetObject",
        {"Bucket": "b", "Key": "a/b c/ü", "Range": "bytes=0-1", "IfModifiedSince": when, "PartNumber": 3},
    )
    assert parsed["Key"] == "a/b c/ü"
    assert parsed["Range"] == "bytes=0-1"
    assert parsed["IfModifiedSince"] == when
    assert parsed["PartNumber"] == 3
    _, put = parse(
        "PutObject",
        {"Bucket": "b", "Key": "k", "Body": b"", "Metadata": {"color": "red"}, "ContentType": "t/p"},
    )
    assert put["Metadata"] == {"color": "red"}
    assert put["ContentType"] == "t/p"


def test_xml_payloads_flattened_lists_and_nested_structures() -> None:
    _, deleted = parse(
        "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}], "Quiet": True}}
    )
    assert deleted["Delete"] == {"Objects": [{"Key": "x"}, {"Key": "y"}], "Quiet": True}
    _, done = parse(
        "CompleteMultipartUpload",
        {
            "Bucket": "b",
            "Key": "k",
            "UploadId": "u",
            "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"e"'}]},
        },
    )
    assert done["MultipartUpload"] == {"Parts": [{"PartNumber": 1, "ETag": '"e"'}]}
    _, created = parse(
        "CreateBucket", {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-2"}}
    )
    assert created["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-2"}
    _, tagged = parse(
        "PutBucketTagging", {"Bucket": "b", "Tagging": {"TagSet": [{"Key": "a", "Value": "1"}]}}
    )
    assert tagged["Tagging"] == {"TagSet": [{"Key": "a", "Value": "1"}]}


def test_malformed_xml_is_aws_malformed_xml() -> None:
    op = MODEL.operation_model("DeleteObjects")
    with pytest.raises(rest_xml.MalformedXmlFault) as err:
        rest_xml.parse(op, {"Bucket": "b"}, {}, {"delete": ""}, b"<Delete><Object>")
    assert err.value.fault_code == "MalformedXML"


def botocore_parse(name: str, out: rest_xml.Serialized) -> dict[str, Any]:
    op = MODEL.operation_model(name)
    headers = {k.decode(): v.decode() for k, v in out.headers}
    response = {"status_code": out.status, "headers": headers, "body": out.body}
    parsed: dict[str, Any] = RestXMLParser().parse(response, op.output_shape)
    return parsed


def test_outputs_read_back_by_botocore() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    listing = {
        "Name": "b",
        "Prefix": "",
        "MaxKeys": 2,
        "KeyCount": 2,
        "IsTruncated": True,
        "Contents": [
            {"Key": "a&b", "LastModified": when, "ETag": '"e"', "Size": 3, "StorageClass": "STANDARD"}
        ],
        "CommonPrefixes": [{"Prefix": "p/"}],
        "NextContinuationToken": "t",
    }
    op = MODEL.operation_model("ListObjectsV2")
    out = rest_xml.serialize(MODEL, op, listing, "ListBucketResult")
    assert out.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult')
    parsed = botocore_parse("ListObjectsV2", out)
    assert parsed["Contents"] == listing["Contents"]
    assert parsed["CommonPrefixes"] == [{"Prefix": "p/"}]
    assert parsed["IsTruncated"] is True and parsed["NextContinuationToken"] == "t"
    head = rest_xml.serialize(
        MODEL,
        MODEL.operation_model("HeadObject"),
        {"ETag": '"e"', "LastModified": when, "ContentLength": 5, "Metadata": {"k": "v"}, "PartsCount": 2},
    )
    parsed = botocore_parse("HeadObject", head)
    assert (parsed["ETag"], parsed["LastModified"], parsed["ContentLength"]) == ('"e"', when, 5)
    assert parsed["Metadata"] == {"k": "v"} and parsed["PartsCount"] == 2
    copied = rest_xml.serialize(
        MODEL,
        MODEL.operation_model("CopyObject"),
        {"CopyObjectResult": {"ETag": '"e"', "LastModified": when}},
    )
    assert botocore_parse("CopyObject", copied)["CopyObjectResult"] == {"ETag": '"e"', "LastModified": when}


def test_errors_read_back_by_botocore() -> None:
    body = rest_xml.serialize_error(no_such_key("a/b"), "REQ1", no_such_key("a/b").details)
    op = MODEL.operation_model("GetObject")
    parsed = RestXMLParser().parse({"status_code": 404, "headers": {}, "body": body}, op.output_shape)
    assert parsed["Error"] == {
        "Code": "NoSuchKey",
        "Message": "The specified key does not exist.",
        "Key": "a/b",
    }
    fault = S3Fault("X", "a < b & c", 400)
    assert b"<Message>a &lt; b &amp; c</Message>" in rest_xml.serialize_error(fault, "R")
