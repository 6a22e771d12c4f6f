#!/usr/bin/env python
# encoding: utf-8
#
# Twisted's echo server from the tutorial. The interop tests run `spindle echo-client` against it,
# and scripts/bench-echo benchmarks it.
#
#   python tests/py/twisted_echo_server.py [PORT]     # PORT 0 (the default): the OS picks one
#
# Listens on 127.0.0.1 and prints "listening on PORT" once it accepts connections. SIGTERM or
# SIGINT stop it.

import sys

from twisted.internet import protocol
from twisted.internet import reactor


class Echo(protocol.Protocol):
    def dataReceived(self, data):  # called as soon as Twisted receives data
        self.transport.write(data)  # send it straight back to the client


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    factory = protocol.ServerFactory()
    factory.protocol = Echo

    listening = reactor.listenTCP(port, factory, interface="127.0.0.1")
    print("listening on", listening.getHost().port, flush=True)
    reactor.run()


if __name__ == '__main__':
    main()
