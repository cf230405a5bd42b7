"""The S3-compatible object store through boto3 against a real server: buckets,
objects, listings, multipart, checksums, conditional and ranged reads, and AWS's
exact errors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, start_server, stop_server

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("s3") / "data")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def s3(server: Server) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:60].strip("-")
    s3.create_bucket(Bucket=name)
    return name


def error(err: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return dict(err.value.response["Error"])


# -- buckets ---------------------------------------------------------------------


def test_bucket_lifecycle_and_the_us_east_1_rule(s3: Any) -> None:
    assert s3.create_bucket(Bucket="life-cycle")["Location"] == "/life-cycle"
    # Re-creating your own bucket in us-east-1 answers 200.
    assert s3.create_bucket(Bucket="life-cycle")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_bucket(Bucket="life-cycle")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "life-cycle" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket="life-cycle")["LocationConstraint"] is None
    assert s3.delete_bucket(Bucket="life-cycle")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket="life-cycle")
    assert err.value.response["Error"]["Code"] == "404"


def test_a_bucket_in_another_region_is_already_owned_when_created_again(s3: Any) -> None:
    config = {"LocationConstraint": "eu-west-2"}
    s3.create_bucket(Bucket="elsewhere", CreateBucketConfiguration=config)
    assert s3.get_bucket_location(Bucket="elsewhere")["LocationConstraint"] == "eu-west-2"
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="elsewhere", CreateBucketConfiguration=config)
    assert error(err)["Code"] == "BucketAlreadyOwnedByYou"
    assert error(err)["Message"] == (
        "Your previous request to create the named bucket succeeded and you already own it."
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_missing_bucket_and_bad_names(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error(err) == {
        "Code": "NoSuchBucket",
        "Message": "The specified bucket does not exist",
        "BucketName": "no-such-bucket-here",
    }
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="Bad_Name")
    assert error(err)["Code"] == "InvalidBucketName"
    assert error(err)["Message"] == "The specified bucket is not valid."


def test_a_bucket_with_objects_is_not_deleted(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=bucket)
    assert error(err)["Code"] == "BucketNotEmpty"
    assert error(err)["Message"] == "The bucket you tried to delete is not empty"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_bucket_tagging(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error(err)["Code"] == "NoSuchTagSet"
    assert error(err)["Message"] == "The TagSet does not exist"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "a"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


# -- objects ---------------------------------------------------------------------


def test_put_get_head_with_metadata_and_standard_headers(s3: Any, bucket: str) -> None:
    body = b"hello, objects"
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/hello.txt",
        Body=body,
        ContentType="text/plain",
        CacheControl="max-age=60",
        ContentDisposition="attachment",
        Metadata={"Owner": "me"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == "attachment"
    assert got["Metadata"] == {"owner": "me"}
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert head["ContentLength"] == len(body)
    assert head["AcceptRanges"] == "bytes"


def test_missing_key_errors(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="missing/key")
    assert error(err) == {
        "Code": "NoSuchKey",
        "Message": "The specified key does not exist.",
        "Key": "missing/key",
    }
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="missing/key")
    assert error(err)["Code"] == "404"
    # Deleting a missing key is not an error.
    assert s3.delete_object(Bucket=bucket, Key="missing")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_a_key_over_1024_bytes_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error(err)["Code"] == "KeyTooLongError"
    assert error(err)["Message"] == "Your key is too long"


def test_ranged_reads(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10000-")["Body"].read() == body[10000:]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert error(err)["Code"] == "InvalidRange"
    assert error(err)["Message"] == "The requested range is not satisfiable"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error(err)["Code"] == "PreconditionFailed"
    assert error(err)["Message"] == "At least one of the pre-conditions you specified did not hold"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"v1"


def test_copy_object_keeps_or_replaces_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ContentType="text/csv", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"data").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"a": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/plain",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"b": "2"})
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert error(err)["Code"] == "InvalidRequest"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/nope")
    assert error(err)["Code"] == "NoSuchKey"


def test_delete_objects_and_its_1000_key_limit(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "zz"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    with pytest.raises(ClientError) as err:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert error(err)["Code"] == "MalformedXML"
    assert error(err)["Message"] == (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


def test_list_objects_v2_prefix_delimiter_pages_start_after(s3: Any, bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "b/c/2", "top1", "top2", "ü/x", "sp ace"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in listed["Contents"]] == ["sp ace", "top1", "top2"]
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["a/", "b/", "ü/"]
    assert listed["KeyCount"] == 6
    under_b = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [c["Key"] for c in under_b["Contents"]] == ["b/1"]
    assert [p["Prefix"] for p in under_b["CommonPrefixes"]] == ["b/c/"]
    seen: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}):
        assert page["KeyCount"] <= 3
        seen.extend(c["Key"] for c in page.get("Contents", []))
    assert seen == sorted(keys, key=lambda k: k.encode())
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="top1")
    assert [c["Key"] for c in after["Contents"]] == ["top2", "ü/x"]
    one = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    assert one["IsTruncated"] is True and one["KeyCount"] == 1


def test_list_objects_v1_with_markers(s3: Any, bucket: str) -> None:
    for key in ("k1", "k2", "k3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    first = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert [c["Key"] for c in first["Contents"]] == ["k1", "k2"]
    assert first["IsTruncated"] is True
    rest = s3.list_objects(Bucket=bucket, Marker="k2")
    assert [c["Key"] for c in rest["Contents"]] == ["k3"]
    assert rest["Contents"][0]["Owner"]["ID"]


# -- checksums -------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_trailing_checksums_are_verified_and_stored(s3: Any, bucket: str, algorithm: str) -> None:
    # boto3 computes these itself and sends them as aws-chunked trailers.
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="ck", Body=body, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]
    if algorithm == "CRC32":
        assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    if algorithm == "SHA256":
        assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()


@pytest.mark.parametrize(
    ("algorithm", "check"),
    [("CRC32C", "e3069283"), ("CRC64NVME", "ae8b14860a799888")],
)
def test_crc32c_and_crc64nvme_headers_are_verified_and_stored(
    s3: Any, bucket: str, algorithm: str, check: str
) -> None:
    # The published check values of the algorithms (the CRC of "123456789"); boto3 computes
    # these two only with awscrt, so the test sends them as headers.
    value = base64.b64encode(bytes.fromhex(check)).decode()
    put = s3.put_object(Bucket=bucket, Key="crc", Body=b"123456789", **{f"Checksum{algorithm}": value})
    assert put[f"Checksum{algorithm}"] == value
    head = s3.head_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == value
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="crc", Body=b"123456780", **{f"Checksum{algorithm}": value})
    assert error(err)["Message"] == f"The {algorithm} you specified did not match the calculated checksum."


def test_a_wrong_checksum_or_content_md5_is_bad_digest(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert error(err)["Code"] == "BadDigest"
    assert error(err)["Message"] == "The CRC32 you specified did not match the calculated checksum."
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"abc", ContentMD5=wrong_md5)
    assert error(err)["Code"] == "BadDigest"
    assert error(err)["Message"] == "The Content-MD5 you specified did not match what we received."
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="bad")
    assert error(err)["Code"] == "404"


def test_an_aws_chunked_body_with_a_wrong_trailer_is_refused(server: Server, bucket: str) -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    request = urllib.request.Request(
        f"{server.endpoint}/{bucket}/chunked",
        data=body,
        method="PUT",
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": "5",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 400
    assert b"<Code>BadDigest</Code>" in err.value.read()
    good = base64.b64encode(zlib.crc32(b"hello").to_bytes(4, "big")).decode()
    request.data = body.replace(b"AAAAAA==", good.encode())
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    with urllib.request.urlopen(f"{server.endpoint}/{bucket}/chunked") as answer:
        assert answer.read() == b"hello"


# -- multipart -------------------------------------------------------------------


def test_upload_file_multipart_and_download(s3: Any, bucket: str, tmp_path: Any) -> None:
    data = os.urandom(18 * MB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    s3.upload_file(str(source), bucket, "big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    part_md5s = [hashlib.md5(data[i : i + 8 * MB]).digest() for i in range(0, len(data), 8 * MB)]
    assert head["ETag"] == f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-3"'
    assert head["ContentLength"] == len(data)
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target))
    assert target.read_bytes() == data
    tail = s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={17 * MB}-")["Body"].read()
    assert tail == data[17 * MB :]


def test_multipart_api_and_its_errors(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/plain")["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload]
    one = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"a" * (5 * MB))
    two = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"tail")
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MB), (2, 4)]

    def complete(listed: list[dict[str, Any]]) -> Any:
        return s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": listed}
        )

    with pytest.raises(ClientError) as err:
        complete([{"PartNumber": 2, "ETag": two["ETag"]}, {"PartNumber": 1, "ETag": one["ETag"]}])
    assert error(err)["Code"] == "InvalidPartOrder"
    assert error(err)["Message"] == (
        "The list of parts was not in ascending order. Parts must be ordered by part number."
    )
    with pytest.raises(ClientError) as err:
        complete([{"PartNumber": 1, "ETag": one["ETag"]}, {"PartNumber": 3, "ETag": two["ETag"]}])
    assert error(err)["Code"] == "InvalidPart"
    assert error(err)["Message"].startswith("One or more of the specified parts could not be found.")
    with pytest.raises(ClientError) as err:
        complete([{"PartNumber": 2, "ETag": two["ETag"]}, {"PartNumber": 3, "ETag": two["ETag"]}])
    assert error(err)["Code"] == "InvalidPart"
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=3, Body=b"x")
    with pytest.raises(ClientError) as err:
        complete([{"PartNumber": 2, "ETag": two["ETag"]}, {"PartNumber": 3, "ETag": small["ETag"]}])
    assert error(err)["Code"] == "EntityTooSmall"
    assert error(err)["Message"] == "Your proposed upload is smaller than the minimum allowed size"
    done = complete([{"PartNumber": 1, "ETag": one["ETag"]}, {"PartNumber": 2, "ETag": two["ETag"]}])
    assert done["ETag"].endswith('-2"')
    body = s3.get_object(Bucket=bucket, Key="mp")["Body"].read()
    assert body == b"a" * (5 * MB) + b"tail"
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    assert error(err)["Code"] == "NoSuchUpload"
    assert error(err)["Message"] == (
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed."
    )


def test_upload_part_copy_and_abort(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{5 * MB - 1}",
    )["CopyPartResult"]
    second = s3.upload_part_copy(
        Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=2, CopySource=f"{bucket}/source"
    )["CopyPartResult"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[: 5 * MB] + source
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    assert (
        s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    with pytest.raises(ClientError) as err:
        s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)
    assert error(err)["Code"] == "NoSuchUpload"


# -- addressing and routing ---------------------------------------------------------


def test_virtual_hosted_style_and_unsigned_paths(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="v/h.txt", Body=b"hosted")
    request = urllib.request.Request(
        f"{server.endpoint}/v/h.txt", headers={"Host": f"{bucket}.s3.localhost:{server.port}"}
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.read() == b"hosted"
    with urllib.request.urlopen(f"{server.endpoint}/{bucket}/v/h.txt") as answer:
        assert answer.read() == b"hosted"
    # The Lambda API's paths stay the Lambda API's.
    with urllib.request.urlopen(f"{server.endpoint}/2015-03-31/functions/") as answer:
        assert b"Functions" in answer.read()


def test_upload_of_a_body_from_a_file_object(s3: Any, bucket: str) -> None:
    s3.upload_fileobj(io.BytesIO(b"small"), bucket, "small")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"small"


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_presigned_get_and_put_urls(server: Server, bucket: str, signature_version: str) -> None:
    s3 = server.client("s3", signature_version=signature_version, s3={"addressing_style": "path"})
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=60)
    assert ("X-Amz-Credential" in put_url) == (signature_version == "s3v4")
    with urllib.request.urlopen(urllib.request.Request(put_url, data=b"presigned", method="PUT")) as answer:
        assert answer.status == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=60)
    with urllib.request.urlopen(get_url) as answer:
        assert answer.read() == b"presigned"


def test_head_answers_leave_a_keep_alive_connection_clean(server: Server, bucket: str) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    for _ in range(3):
        connection.request("HEAD", f"/{bucket}")
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        assert answer.getheader("Transfer-Encoding") is None
    connection.request("GET", f"/{bucket}?list-type=2")
    listing = connection.getresponse()
    assert listing.status == 200 and b"<ListBucketResult" in listing.read()
    connection.close()
