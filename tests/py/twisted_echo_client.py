#!/usr/bin/env python
# encoding: utf-8
#
# Twisted's echo client from the tutorial, kept as close to it as possible (Python 3: the message is
# bytes and is decoded for printing). The interop tests run it against `spindle echo`.
#
#   python tests/py/twisted_echo_client.py PORT [HOST]
#
# Exit status 0 when the server echoed and the connection closed, 1 when the connection failed.

import sys

from twisted.internet import reactor, protocol

# a client protocol


class EchoClient(protocol.Protocol):
    """Once connected, send a message, then print the result."""

    def connectionMade(self):
        self.transport.write(b"hello boy!")

    def dataReceived(self, data):
        "As soon as any data is received, write it back."
        print("Server said:", data.decode("utf-8", "replace"))
        self.transport.loseConnection()

    def connectionLost(self, reason):
        print("connection lost")


class EchoFactory(protocol.ClientFactory):
    protocol = EchoClient
    failed = False

    def clientConnectionFailed(self, connector, reason):
        print("Connection failed - goodbye!")
        self.failed = True
        reactor.stop()

    def clientConnectionLost(self, connector, reason):
        print("Connection lost - goodbye!")
        reactor.stop()


# this connects the protocol to a server running on the given port
def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    f = EchoFactory()
    reactor.connectTCP(host, port, f)
    reactor.run()
    sys.stdout.flush()
    sys.exit(1 if f.failed else 0)


# this only runs if the module was *not* imported
if __name__ == '__main__':
    main()
