"""The AWS CLI against the object store: ``aws s3 cp`` of a file large enough for a
multipart upload, ``aws s3 ls``, ``aws s3api`` and a download back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server

AWS = shutil.which("aws")
pytestmark = pytest.mark.skipif(AWS is None, reason="the aws CLI is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("s3cli") / "data")
    yield srv
    stop_server(srv)


def aws(server: Server, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        [str(AWS), "--endpoint-url", server.endpoint, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cp_of_a_large_file_ls_and_s3api(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "large.bin"
    data = os.urandom(20 * 1024 * 1024)
    source.write_bytes(data)
    aws(server, "s3", "mb", "s3://cli-bucket")
    aws(server, "s3", "cp", str(source), "s3://cli-bucket/dir/large.bin")
    listing = aws(server, "s3", "ls", "s3://cli-bucket/dir/")
    assert "large.bin" in listing and str(len(data)) in listing
    head = json.loads(aws(server, "s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/large.bin"))
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # the CLI's 8 MB parts
    back = tmp_path / "back.bin"
    aws(server, "s3", "cp", "s3://cli-bucket/dir/large.bin", str(back))
    assert back.read_bytes() == data
    aws(server, "s3", "rm", "--recursive", "s3://cli-bucket/")
    aws(server, "s3", "rb", "s3://cli-bucket")
