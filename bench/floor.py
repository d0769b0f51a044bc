"""The floor: a bare aiohttp mutual-TLS upload app with the hub's TLS settings. Not a test.

    .venv/bin/python bench/floor.py --data DIR [--port 0]

Everything the hub must do on the wire and nothing of its own rules: the same TLS context as the
hub (`hub.server.server_ssl_context`: same CA, certificate, CERT_OPTIONAL, TLS >= 1.2); a submit
reads the peer certificate (DER), reads every multipart part in 64 KiB chunks (reading each part's
name and filename once) and streams each file part to its own file, then answers a small JSON.
The receive side of the full cycle is as bare: the inbox lists ids held in memory, the info names
the files, a file is read back and sent, the receipt deletes the files. No fsync, no database, no
signature check, no CSV check. `bench/load.py` drives this and the hub with the same bodies.

Prints one line `{"url": …, "pid": …}` on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path

from aiohttp import BodyPartReader, web

from hub.config import HubConfig
from hub.server import server_ssl_context

FILES = web.AppKey("files", Path)
HELD = web.AppKey("held", dict)
CHUNK = 64 * 1024


async def submit(request: web.Request) -> web.Response:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    peer = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    transmission_id, names = uuid.uuid4().hex, []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        name, filename = part.name, part.filename  # read once: aiohttp re-parses them on each access
        if name == "file" and filename:
            path = request.app[FILES] / f"{transmission_id}.{len(names)}"
            with path.open("wb") as out:
                while chunk := await part.read_chunk(CHUNK):
                    out.write(chunk)
            names.append(filename)
        else:
            while await part.read_chunk(CHUNK):
                pass
    request.app[HELD][transmission_id] = names
    return web.json_response({"transmission_id": transmission_id, "files": len(names), "peer": len(peer or b"")})


async def inbox(request: web.Request) -> web.Response:
    ids = list(request.app[HELD])[:100]
    return web.json_response({"transmissions": [{"transmission_id": i} for i in ids], "next_cursor": None})


def _held(request: web.Request) -> tuple[str, list[str]]:
    transmission_id = request.match_info["tid"]
    names = request.app[HELD].get(transmission_id)
    if names is None:
        raise web.HTTPNotFound()
    return transmission_id, names


async def info(request: web.Request) -> web.Response:
    transmission_id, names = _held(request)
    files = [{"position": i, "name": n} for i, n in enumerate(names)]
    return web.json_response({"transmission_id": transmission_id, "files": files})


async def file(request: web.Request) -> web.Response:
    transmission_id, _ = _held(request)
    path = request.app[FILES] / f"{transmission_id}.{int(request.match_info['position'])}"
    return web.Response(body=path.read_bytes(), content_type="application/octet-stream")


async def ack(request: web.Request) -> web.Response:
    transmission_id, names = _held(request)
    for position in range(len(names)):
        (request.app[FILES] / f"{transmission_id}.{position}").unlink(missing_ok=True)
    del request.app[HELD][transmission_id]
    return web.json_response({"transmission_id": transmission_id, "status": "ダウンロード済"})


def create_app(files: Path) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[FILES] = files
    app[HELD] = {}
    app.router.add_post("/api/v1/transmissions", submit)
    app.router.add_get("/api/v1/inbox", inbox)
    app.router.add_get("/api/v1/inbox/{tid}", info)
    app.router.add_get("/api/v1/inbox/{tid}/files/{position:[0-9]+}", file)
    app.router.add_post("/api/v1/inbox/{tid}/ack", ack)
    return app


async def serve(data: Path, port: int) -> None:
    files = Path(tempfile.mkdtemp(prefix="careplan-floor-"))
    runner = web.AppRunner(create_app(files), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl_context(HubConfig(data_dir=data)))
    await site.start()
    print(json.dumps({"url": f"https://127.0.0.1:{runner.addresses[0][1]}", "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()  # until the driver stops this process
    finally:
        await runner.cleanup()
        shutil.rmtree(files, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="a hub data directory (its ca/ and tls/)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.data, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
