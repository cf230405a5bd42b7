"""Process level through the Sandbox protocol: specs, argv translation, passed descriptors."""

from __future__ import annotations

import asyncio
import os
import select
import sys
from pathlib import Path

from lambdalite.sandbox.process import ProcessSandbox
from lambdalite.sandbox.spec import SandboxSpec


def _read_all(fd: int) -> bytes:
    chunks = []
    while select.select([fd], [], [], 5)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_spec_starts_in_the_task_root_with_host_paths_and_passed_fds(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("import os, sys\nprint(os.getcwd(), os.write(int(sys.argv[1]), b'x'))\n")
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    sandbox = ProcessSandbox(tmp_path / "sandboxes", drop_privileges=False)
    spec = SandboxSpec(
        "env1",
        (sys.executable, str(code / "main.py"), str(write_end)),
        {},
        code,
        tmp_path,
        pass_fds=(write_end,),
    )
    assert sandbox.inside_paths(spec) == (str(code), str(tmp_path))

    async def scenario() -> tuple[int, bytes]:
        process = await sandbox.start(spec)
        returncode = await process.wait()
        output = _read_all(process.output_fd)
        await process.stop()
        os.close(process.output_fd)
        assert process.peak_memory_bytes() is None and not process.out_of_memory()
        return returncode, output

    returncode, output = asyncio.run(scenario())
    os.close(write_end)
    assert returncode == 0, output
    assert output.decode().strip() == f"{code} 1"
    assert os.read(read_end, 10) == b"x"
    os.close(read_end)
    assert not (tmp_path / "sandboxes" / "env1").exists()
