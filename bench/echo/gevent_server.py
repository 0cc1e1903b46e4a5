# SPDX-License-Identifier: MIT
"""The echo benchmark's gevent reference: a StreamServer, one greenlet per
connection, each a loop of recv and sendall.

    python3 gevent_server.py PORT [--max-seconds N]

Listens on 127.0.0.1:PORT (0: ephemeral), prints the port as the first
line of stdout; --max-seconds N ends it after N seconds.
"""
import resource
import signal
import sys

from gevent.server import StreamServer


def serve(sock, _address):
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    finally:
        sock.close()


def main():
    args = sys.argv[1:]
    if len(args) not in (1, 3) or (len(args) == 3 and
                                   args[1] != "--max-seconds"):
        sys.exit("usage: gevent_server.py PORT [--max-seconds N]")
    if len(args) == 3:
        signal.alarm(int(args[2]))  # SIGALRM's default action ends us
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = StreamServer(("127.0.0.1", int(args[0])), serve, backlog=4096)
    server.start()
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
