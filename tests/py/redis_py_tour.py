"""The redis-py tour, as the seed tutorial runs it, against `spindle kv`: every data type in
its keyword forms. Usage: redis_py_tour.py PORT. Prints "ok" when every assertion holds."""
import sys

import redis

port = int(sys.argv[1])
pool = redis.ConnectionPool(host="127.0.0.1", port=port, decode_responses=True)
r = redis.Redis(connection_pool=pool)
r.flushdb()

# Strings
assert r.set("name", "alex", ex=100) and 99 <= r.ttl("name") <= 100
assert r.set("name", "alex", px=100000) and r.pttl("name") > 99000
assert r.set("name", "eric", nx=True) is None
assert r.set("name", "eric", xx=True)
r.mset({"k1": "v1", "k2": "v2"})
assert r.mget(["k1", "k2"]) == ["v1", "v2"]
r.set("cn", "君惜大大")
assert r.getrange("cn", 0, 2) == "君"  # bytes 0..2 are one UTF-8 character
assert r.setrange("name", 1, "ddd") == 4 and r.get("name") == "eddd"
r.set("bits", "345")
assert r.getbit("bits", 2) == 1
r.setbit("bits", 7, 1)
assert r.bitcount("bits") == 11
r.set("b1", "a")
r.set("b2", "b")
assert r.bitop("AND", "b3", "b1", "b2") == 1 and r.get("b3") == "`"
assert r.strlen("name") == 4
assert r.incr("num", 5) == 5 and r.decr("num", 2) == 3
assert r.incrbyfloat("fnum", 1.25) == 1.25
assert r.append("name", "!") == 5

# Hashes
r.hset("h", "k1", "v1")
r.hset("h", mapping={"k2": "v2", "k3": "v3", "n": "1"})
assert r.hget("h", "k1") == "v1" and r.hmget("h", "k1", "k2") == ["v1", "v2"]
assert r.hgetall("h") == {"k1": "v1", "k2": "v2", "k3": "v3", "n": "1"}
assert r.hlen("h") == 4 and sorted(r.hkeys("h")) == ["k1", "k2", "k3", "n"]
assert sorted(r.hvals("h")) == ["1", "v1", "v2", "v3"]
assert r.hexists("h", "k1") and r.hdel("h", "k3") == 1
assert r.hincrby("h", "n", 5) == 6 and r.hincrbyfloat("h", "f", 2.5) == 2.5
assert dict(r.hscan_iter("h", match="k*")) == {"k1": "v1", "k2": "v2"}

# Lists
assert r.lpush("l", 11, 22, 33) == 3 and r.rpush("l", 44) == 4 and r.lpushx("l", 55) == 5
assert r.lrange("l", 0, -1) == ["55", "33", "22", "11", "44"]
assert r.linsert("l", "BEFORE", "22", "x") == 6 and r.lindex("l", 2) == "x"
r.rpush("l", "x", "x")
assert r.lrem("l", 1, "x") == 1 and r.lrem("l", -1, "x") == 1
assert r.lrange("l", 0, -1) == ["55", "33", "22", "11", "44", "x"]
assert r.lset("l", 0, "first") and r.lpop("l") == "first" and r.rpop("l") == "x"
assert r.ltrim("l", 0, 2) and r.lrange("l", 0, -1) == ["33", "22", "11"]
assert r.rpoplpush("l", "l2") == "11" and r.lrange("l2", 0, -1) == ["11"]
assert r.blpop(["l2"], timeout=1) == ("l2", "11")
assert r.blpop(["l2"], timeout=0.1) is None
assert r.brpoplpush("l", "l2", timeout=1) == "22"

# Sets
r.sadd("s1", "a", "b", "c")
r.sadd("s2", "b", "c", "d")
assert r.scard("s1") == 3 and r.sismember("s1", "a")
assert r.sdiff("s1", "s2") == {"a"} and r.sinter("s1", "s2") == {"b", "c"}
assert r.sunion("s1", "s2") == {"a", "b", "c", "d"}
assert r.sunionstore("s3", "s1", "s2") == 4 and r.sinterstore("s4", "s1", "s2") == 2
assert r.smove("s1", "s2", "a") and r.smembers("s2") == {"a", "b", "c", "d"}
assert r.spop("s1") in {"b", "c"} and r.srem("s2", "a", "zz") == 1
assert len(r.srandmember("s3", 2)) == 2 and len(r.srandmember("s3", -6)) == 6
assert sorted(r.sscan_iter("s3")) == ["a", "b", "c", "d"]

# Sorted sets
assert r.zadd("z", {"n1": 11, "n2": 22, "n3": 33}) == 3
assert r.zcard("z") == 3 and r.zcount("z", 10, 25) == 2
assert r.zincrby("z", 2, "n1") == 13.0 and r.zscore("z", "n1") == 13.0
assert r.zrank("z", "n2") == 1 and r.zrevrank("z", "n2") == 1
assert r.zrange("z", 0, -1, withscores=True) == [("n1", 13.0), ("n2", 22.0), ("n3", 33.0)]
assert r.zrevrange("z", 0, 0) == ["n3"]
assert r.zrangebyscore("z", 15, 40) == ["n2", "n3"]
r.zadd("myzset", {"aa": 0, "ba": 0, "ca": 0, "da": 0})
assert r.zrangebylex("myzset", "-", "[ca") == ["aa", "ba", "ca"]
assert r.zlexcount("myzset", "-", "+") == 4
assert r.zremrangebylex("myzset", "[da", "+") == 1
assert r.zrem("z", "n3") == 1 and r.zremrangebyrank("z", 0, 0) == 1
assert r.zremrangebyscore("z", 0, 100) == 1
r.zadd("za", {"a": 1, "b": 2})
r.zadd("zb", {"b": 3, "c": 4})
assert r.zinterstore("zi", {"za": 1, "zb": 2}, aggregate="MAX") == 1
assert r.zrange("zi", 0, -1, withscores=True) == [("b", 6.0)]
assert r.zunionstore("zu", ["za", "zb"], aggregate="SUM") == 3
assert r.zrange("zu", 0, -1, withscores=True) == [("a", 1.0), ("c", 4.0), ("b", 5.0)]

# Keys
for k in ("hello", "hallo", "hxllo"):
    r.set(k, 1)
assert sorted(r.keys("h?llo")) == ["hallo", "hello", "hxllo"]
assert sorted(r.scan_iter(match="h[ae]llo")) == ["hallo", "hello"]
assert r.move("hello", 1) and not r.exists("hello")
r2 = redis.Redis(host="127.0.0.1", port=port, db=1, decode_responses=True)
assert r2.get("hello") == "1"
assert r.rename("hallo", "greeting") and r.type("greeting") == "string"
assert r.type("zu") == "zset" and r.type("h") == "hash" and r.type("none") == "none"
assert r.expire("greeting", 100) and r.persist("greeting")
assert r.randomkey() is not None and r.dbsize() > 0

# Pipelines, the tutorial's two forms
pipe = r.pipeline(transaction=True)
pipe.set("name", "alex")
pipe.set("role", "sb")
assert pipe.execute() == [True, True]
pipe = r.pipeline(transaction=False)
pipe.get("name").get("role")
assert pipe.execute() == ["alex", "sb"]

print("ok")
