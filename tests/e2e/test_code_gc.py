"""Disk hygiene end to end: a server removes what interrupted uploads left when it
starts, and shrinks its code store to the packages still referenced while the
current code, a published version and a layer keep working."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import create_function, start_server, stop_server, zip_files

UPDATES = 25


def handler(n: int) -> dict[str, str | bytes]:
    code = (
        "import layer_version\n"
        "def handler(event, context):\n"
        f"    return {{'n': {n}, 'layer': layer_version.VERSION}}\n"
    )
    return {"app.py": code}


def packages(data_dir: Path) -> set[str]:
    code = data_dir / "code"
    blobs = {p.name.removesuffix(".zip") for p in (code / "blobs").glob("*.zip")}
    return blobs | {p.name for p in (code / "unpacked").iterdir()}


def invoke(lam: Any, name: str, qualifier: str | None = None) -> Any:
    params = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    response = lam.invoke(**params)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def test_the_code_store_shrinks_to_what_is_referenced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # What a crash in the middle of an upload leaves behind.
    (data_dir / "code" / "tmp" / "unpack-crashed").mkdir(parents=True)
    (data_dir / "code" / "tmp" / "unpack-crashed" / "big.bin").write_bytes(b"x" * 100_000)
    (data_dir / "code" / "blobs").mkdir(parents=True)
    (data_dir / "code" / "blobs" / f".{'0' * 64}.half").write_bytes(b"PK")
    server = start_server(
        data_dir,
        env={"LAMBDALITE_CODE_GC_GRACE_S": "1", "LAMBDALITE_CODE_GC_INTERVAL_S": "0.2"},
    )
    try:
        assert list((data_dir / "code" / "tmp").iterdir()) == []
        assert [p.name for p in (data_dir / "code" / "blobs").iterdir()] == []
        lam = server.client("lambda")
        layer = lam.publish_layer_version(
            LayerName="gc-layer",
            Content={"ZipFile": zip_files({"python/layer_version.py": "VERSION = 'L1'\n"})},
        )
        create_function(lam, "gc-fn", handler(0), Layers=[layer["LayerVersionArn"]])
        version = lam.publish_version(FunctionName="gc-fn")["Version"]
        # The layer version is deleted; the function keeps its layer's code, as on AWS.
        lam.delete_layer_version(LayerName="gc-layer", VersionNumber=layer["Version"])
        assert invoke(lam, "gc-fn", version)["n"] == 0
        waiter = lam.get_waiter("function_updated_v2")
        for n in range(1, UPDATES + 1):
            lam.update_function_code(FunctionName="gc-fn", ZipFile=zip_files(handler(n)))
            waiter.wait(FunctionName="gc-fn", WaiterConfig={"Delay": 0.1})
            assert invoke(lam, "gc-fn")["n"] == n
        latest = lam.get_function(FunctionName="gc-fn")["Configuration"]["CodeSha256"]
        published = lam.get_function(FunctionName="gc-fn", Qualifier=version)["Configuration"]["CodeSha256"]
        assert latest != published

        # $LATEST's code, version 1's code and the layer's: three packages of the 27 stored.
        deadline = time.monotonic() + 30
        while len(packages(data_dir)) > 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(packages(data_dir)) == 3, sorted(packages(data_dir))
        result = invoke(lam, "gc-fn")
        assert result["n"] == UPDATES
        old = invoke(lam, "gc-fn", version)
        assert old["n"] == 0
        assert result["layer"] == old["layer"] == "L1"
        # GetFunction still serves the published version's zip.
        location = lam.get_function(FunctionName="gc-fn", Qualifier=version)["Code"]["Location"]
        with urllib.request.urlopen(location) as response:
            assert response.read() == zip_files(handler(0))

        # Deleting the function leaves nothing referenced: the store empties.
        lam.delete_function(FunctionName="gc-fn")
        # The collector moves a package into tmp/ before removing it: wait for both to empty.
        work = data_dir / "code" / "tmp"
        deadline = time.monotonic() + 30
        while (packages(data_dir) or any(work.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert packages(data_dir) == set()
        assert list(work.iterdir()) == []
    finally:
        stop_server(server)
