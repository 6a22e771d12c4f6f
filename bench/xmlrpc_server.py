# The reference XML-RPC server of scripts/bench-rpc: the document's SimpleXMLRPCServer serving its
# RPCServer object (getObj, sendObj) and the tutorial's fib, as `spindle rpc` serves them.
#
#   python bench/xmlrpc_server.py [--threading]     # port from $RPC_PORT (0: any free port)
#
# --threading: the same server with socketserver.ThreadingMixIn (a thread per connection).
# Differences from the document (and from tests/py/rpc/xmlrpc_server.py), each in the
# reference's favour:
# - getObj and sendObj do not print (the document's print a line per call; spindle rpc logs
#   nothing per call);
# - fib is the loop spindle's is, not the tutorial's recursion;
# - the listen backlog is 128, not socketserver's 5: every call is a new connection (HTTP/1.0),
#   and 16 clients reconnecting at once overflow a backlog of 5 — the dropped SYNs then cost
#   a 1 s retransmission each, which would measure the kernel, not Python.
# Prints "listening on PORT" once it accepts. Standard library only.
import os
import socketserver
import sys
from xmlrpc.server import SimpleXMLRPCServer


class RPCServer(object):
    def __init__(self):
        super(RPCServer, self).__init__()
        self.send_data = {'server:' + str(i): i for i in range(100)}
        self.recv_data = None

    def getObj(self):
        return self.send_data

    def sendObj(self, data):
        self.recv_data = data

    def fib(self, n):
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return a


class Server(SimpleXMLRPCServer):
    request_queue_size = 128


class ThreadingServer(socketserver.ThreadingMixIn, Server):
    daemon_threads = True


server_class = ThreadingServer if '--threading' in sys.argv[1:] else Server
server = server_class(('127.0.0.1', int(os.environ.get('RPC_PORT', '4242'))),
                      allow_none=True, logRequests=False)
server.register_introspection_functions()
server.register_multicall_functions()
server.register_instance(RPCServer())
print('listening on %d' % server.server_address[1], flush=True)
server.serve_forever()
