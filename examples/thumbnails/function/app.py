"""The thumbnail function: for each uploaded image named in an S3 event, write a
thumbnail (at most MAX_SIDE pixels on its longer side) to THUMBNAIL_BUCKET under the
same key, then publish a message about it to TOPIC_ARN.

Plain AWS code: boto3 finds the endpoint and the execution role's credentials in the
environment the runtime gives it (on AWS, and on lambdalite under ``--auth sigv4``);
Pillow comes from the layer that ``build_layer.py`` builds."""

from __future__ import annotations

import io
import json
import os
import urllib.parse
from typing import Any

import boto3
from PIL import Image

MAX_SIDE = int(os.environ.get("MAX_SIDE", "128"))
s3 = boto3.client("s3")
sns = boto3.client("sns")


def thumbnail(data: bytes) -> tuple[bytes, str, tuple[int, int]]:
    """The thumbnail of an image (in its own format, JPEG as RGB), its format and size."""
    with Image.open(io.BytesIO(data)) as image:
        kind = image.format or "PNG"
        small = image.convert("RGB") if kind == "JPEG" and image.mode != "RGB" else image.copy()
    small.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    small.save(out, format=kind)
    return out.getvalue(), kind, small.size


def handler(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    done = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        data, kind, (width, height) = thumbnail(original)
        target = os.environ["THUMBNAIL_BUCKET"]
        s3.put_object(Bucket=target, Key=key, Body=data, ContentType=Image.MIME.get(kind, "image/png"))
        note = {
            "source": f"s3://{bucket}/{key}",
            "thumbnail": f"s3://{target}/{key}",
            "width": width,
            "height": height,
        }
        sns.publish(TopicArn=os.environ["TOPIC_ARN"], Subject="Thumbnail ready", Message=json.dumps(note))
        done.append(note)
    return done
