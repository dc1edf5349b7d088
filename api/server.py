"""Running the API under uvicorn, one process or several.

With several worker processes uvicorn binds the listening socket itself and hands it to the
workers; that socket says protocol 0 rather than TCP, so asyncio does not switch Nagle's algorithm
off on the connections it accepts, and each keep-alive request after the first waits about 40 ms
for the client's delayed ACK (uvicorn issue #3149, open). The socket is re-labelled as TCP here
before the workers get it.
"""
from __future__ import annotations

import socket

import uvicorn

APP = "api.main:app"


class _TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            # Same descriptor, same bound address; only the protocol asyncio reads is corrected.
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


def serve(host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve the API until interrupted (Ctrl-C)."""
    config = _TcpConfig(APP, host=host, port=port, workers=workers, log_level=log_level)
    if config.workers <= 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:  # the port taken, the app failed to start: uvicorn has said why
            raise SystemExit(1)
        return
    from uvicorn.supervisors import Multiprocess
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
