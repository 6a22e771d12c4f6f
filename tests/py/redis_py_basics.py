"""redis-py against `spindle kv`: the parts of the redis-py tour the store supports so far
(connection pool, strings, hashes, lists, sets, sorted sets, keys, pipelines with and without
MULTI, WATCH, pub/sub with a publisher on another connection).
Usage: redis_py_basics.py PORT. Prints "ok" and exits 0 when every assertion holds."""
import sys

import redis

port = int(sys.argv[1])
pool = redis.ConnectionPool(host="127.0.0.1", port=port, decode_responses=True)
r = redis.Redis(connection_pool=pool)

assert r.ping() is True
assert r.set("name", "alex") is True
assert r.get("name") == "alex"
assert r.set("name", "eric", nx=True) is None
assert r.set("name", "eric", xx=True) is True
assert r.set("temp", "v", ex=100) is True and 99 <= r.ttl("temp") <= 100
assert r.set("ptemp", "v", px=100000) is True and r.pttl("ptemp") > 99000
assert r.mset({"k1": "v1", "k2": "v2"}) is True
assert r.mget("k1", "k2", "k3") == ["v1", "v2", None]
assert r.getset("name", "seven") == "eric"
r.set("cn_name", "君惜大大")
assert r.getrange("cn_name", 0, 2).encode() == "君".encode()
assert r.incr("counter") == 1 and r.incr("counter", 10) == 11 and r.decr("counter", 2) == 9
assert r.incrbyfloat("float", 1.5) == 1.5
assert r.append("name", "!") == 6 and r.strlen("name") == 6

assert r.hset("info", mapping={"name": "alex", "age": "18"}) == 2
assert r.hget("info", "name") == "alex"
assert r.hgetall("info") == {"name": "alex", "age": "18"}
assert r.hmget("info", ["name", "nope"]) == ["alex", None]
assert r.hincrby("info", "age", 2) == 20
assert sorted(r.hkeys("info")) == ["age", "name"] and r.hlen("info") == 2
assert r.hexists("info", "age") and r.hdel("info", "age") == 1

assert r.lpush("list", 11, 22, 33) == 3 and r.rpush("list", 44) == 4
assert r.lrange("list", 0, -1) == ["33", "22", "11", "44"]
assert r.lindex("list", -1) == "44" and r.llen("list") == 4
assert r.lpop("list") == "33" and r.rpop("list") == "44"
assert r.lset("list", 0, "x") is True and r.ltrim("list", 0, 0) is True
assert r.lrange("list", 0, -1) == ["x"]

assert r.sadd("set", "a", "b", "c") == 3 and r.scard("set") == 3
assert r.smembers("set") == {"a", "b", "c"} and r.sismember("set", "a")
assert r.srem("set", "a") == 1

assert r.zadd("zset", {"n1": 11, "n2": 22}) == 2
assert r.zrange("zset", 0, -1, withscores=True) == [("n1", 11.0), ("n2", 22.0)]
assert r.zscore("zset", "n2") == 22.0 and r.zcard("zset") == 2

for k in ("hello", "hallo", "hxllo"):
    r.set(k, 1)
assert sorted(r.keys("h?llo")) == ["hallo", "hello", "hxllo"]
assert sorted(r.scan_iter(match="h*llo")) == ["hallo", "hello", "hxllo"]
assert r.type("info") == "hash" and r.type("zset") == "zset"
assert r.rename("hello", "greeting") is True and r.exists("greeting") == 1
assert r.delete("greeting", "nothing") == 1

pipe = r.pipeline(transaction=False)
pipe.set("p1", "a").set("p2", "b").get("p1").get("p2")
assert pipe.execute() == [True, True, "a", "b"]

pipe = r.pipeline(transaction=True)
pipe.set("name", "alex").set("role", "sb").incr("tx_counter")
assert pipe.execute() == [True, True, 1]

# WATCH + MULTI: an optimistic increment that retries when another client interferes.
other = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
with r.pipeline() as p:
    p.watch("balance")
    other.set("balance", 10)  # interference between WATCH and EXEC
    p.multi()
    p.set("balance", 1)
    try:
        p.execute()
        raise AssertionError("EXEC should fail after the watched key changed")
    except redis.WatchError:
        pass
assert r.get("balance") == "10"

# Pub/sub: subscribe on one connection, publish on another.
ps = r.pubsub()
ps.subscribe("fm104.8")
first = ps.parse_response()
assert first == ["subscribe", "fm104.8", 1], first
assert other.publish("fm104.8", "hello listeners") == 1
msg = ps.parse_response()
assert msg == ["message", "fm104.8", "hello listeners"], msg
ps.psubscribe("fm*")
assert ps.parse_response() == ["psubscribe", "fm*", 2]
assert other.publish("fm99", "pattern") == 1
assert ps.parse_response() == ["pmessage", "fm*", "fm99", "pattern"]
ps.close()

try:
    r.hget("list", "x")
    raise AssertionError("expected WRONGTYPE")
except redis.ResponseError as e:
    assert str(e).startswith("WRONGTYPE"), e

print("ok")
