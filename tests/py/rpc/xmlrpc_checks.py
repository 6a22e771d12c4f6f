# Python's xmlrpc.client against a Spindle XML-RPC server ($RPC_PORT): introspection,
# system.multicall, faults caught as xmlrpc.client.Fault, None both ways. Prints "ok" at the
# end; any failed check raises (exit status 1).
import os
import xmlrpc.client

c = xmlrpc.client.ServerProxy('http://localhost:%s' % os.environ['RPC_PORT'], allow_none=True)

methods = c.system.listMethods()
for name in ['getObj', 'sendObj', 'fib', 'system.listMethods', 'system.methodHelp',
             'system.methodSignature', 'system.multicall']:
    assert name in methods, (name, methods)
assert methods == sorted(methods), methods
print('methods', methods)
assert c.system.methodSignature('fib') == [['int', 'int']], c.system.methodSignature('fib')
assert 'getObj' in c.system.methodHelp('getObj'), c.system.methodHelp('getObj')
assert c.system.methodHelp('nope') == ''

obj = c.getObj()
assert obj == {'server:' + str(i): i for i in range(100)}, obj
assert list(obj) == ['server:' + str(i) for i in range(100)]
assert c.sendObj(None) is None
assert c.sendObj({'nested': [1, 2.5, 'x', None, True, xmlrpc.client.Binary(b'\x00\xff')]}) is None
assert c.fib(30) == 832040

multi = xmlrpc.client.MultiCall(c)
multi.fib(10)
multi.getObj()
multi.fib('x')
results = multi()
assert results[0] == 55
assert results[1]['server:99'] == 99
try:
    results[2]
    raise AssertionError('a fault was expected')
except xmlrpc.client.Fault as f:
    assert f.faultCode == 1 and 'TypeError' in f.faultString, f
print('multicall ok')

for call, code, text in [
    (lambda: c.nope(), 1, 'method "nope" is not supported'),
    (lambda: c.fib(1, 2), 1, 'fib() takes 1 positional argument but 2 were given'),
    (lambda: c.fib('x'), 1, 'fib() argument 1 must be int, not str'),
    (lambda: c.fib(200), 1, 'ValueError'),
]:
    try:
        call()
        raise AssertionError('a fault was expected: ' + text)
    except xmlrpc.client.Fault as f:
        assert f.faultCode == code and text in f.faultString, (f, text)
        print('fault', f.faultCode, f.faultString)

try:
    xmlrpc.client.ServerProxy('http://localhost:%s/other' % os.environ['RPC_PORT']).getObj()
    raise AssertionError('a 404 was expected')
except xmlrpc.client.ProtocolError as e:
    assert e.errcode == 404, e
print('ok')
