# The document's XML-RPC server (SimpleXMLRPCServer section). Changes: the port comes from
# $RPC_PORT (0: any free port; the document hard-codes 4242) and is printed as
# "listening on PORT" for the test to read; two functions are registered beside the
# document's object for the tests: echo(x) returns its argument (every value type both
# ways) and received() returns what the last sendObj sent; multicall is registered too.
import os
import sys
from xmlrpc.server import SimpleXMLRPCServer
class RPCServer(object):
    def __init__(self):
        super(RPCServer, self).__init__()
        print(self)
        self.send_data = {'server:'+str(i): i for i in range(100)}
        self.recv_data = None
    def getObj(self):
        print('get data')
        return self.send_data
    def sendObj(self, data):
        print('send data')
        self.recv_data = data
        print(self.recv_data)
# SimpleXMLRPCServer
server = SimpleXMLRPCServer(('localhost', int(os.environ.get('RPC_PORT', '4242'))),
                            allow_none=True, logRequests=False)
server.register_introspection_functions()
server.register_multicall_functions()
instance = RPCServer()
server.register_instance(instance)
server.register_function(lambda x: x, 'echo')
server.register_function(lambda: instance.recv_data, 'received')
print('listening on %d' % server.server_address[1], flush=True)
sys.stdout.flush()
server.serve_forever()
