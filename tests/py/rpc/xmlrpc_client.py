# The document's XML-RPC client (SimpleXMLRPCServer section), unchanged but for two lines:
# the port comes from $RPC_PORT (the document hard-codes 4242), and time.perf_counter stands
# in for time.clock, which Python 3.8 removed.
import os
import time
from xmlrpc.client import ServerProxy
# SimpleXMLRPCServer
def xmlrpc_client():
    print('xmlrpc client')
    c = ServerProxy('http://localhost:%s' % os.environ.get('RPC_PORT', '4242'))
    data = {'client:'+str(i): i for i in range(100)}
    start = time.perf_counter()
    for i in range(50):
        a=c.getObj()
        print(a)
    for i in range(50):
        c.sendObj(data)
    print('xmlrpc total time %s' % (time.perf_counter() - start))
if __name__ == '__main__':
    xmlrpc_client()
