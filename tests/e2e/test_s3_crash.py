"""kill -9 during an upload leaves nothing partial visible, and nothing behind."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_server, stop_server


def test_kill_9_mid_upload_leaves_the_old_object_and_no_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        s3 = server.client("s3", s3={"addressing_style": "path"})
        s3.create_bucket(Bucket="crash")
        s3.put_object(Bucket="crash", Key="obj", Body=b"old")
        upload = s3.create_multipart_upload(Bucket="crash", Key="mp")["UploadId"]
        s3.upload_part(Bucket="crash", Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 1000)
        # A PUT that announces 50 MB and sends 5 MB of it, then the server dies.
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                b"PUT /crash/obj HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 52428800\r\n\r\n"
                + b"n" * 5_000_000
            )
            tmp = data_dir / "s3" / "tmp"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in tmp.iterdir()):
                time.sleep(0.05)
            assert any(tmp.iterdir()), "the upload was being written to a temporary file"
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
        # An orphan as a crash between rename and commit would leave it.
        (data_dir / "s3" / "objects" / "orphan").write_bytes(b"x")
    finally:
        stop_server(server)
    again = start_server(data_dir)
    try:
        s3 = again.client("s3", s3={"addressing_style": "path"})
        assert s3.get_object(Bucket="crash", Key="obj")["Body"].read() == b"old"
        assert list((data_dir / "s3" / "tmp").iterdir()) == []
        assert not (data_dir / "s3" / "objects" / "orphan").exists()
        assert len(list((data_dir / "s3" / "objects").iterdir())) == 1
        parts = s3.list_parts(Bucket="crash", Key="mp", UploadId=upload)["Parts"]
        assert [p["Size"] for p in parts] == [1000]
        with pytest.raises(ClientError):
            s3.head_object(Bucket="crash", Key="mp")
    finally:
        stop_server(again)
