//! Lua scripting of `spindle kv` against redis-server 7.0 side by side: the same scripts give
//! the same replies byte for byte over raw RESP2 and RESP3 connections — conversions every
//! way, errors with the script's name and line, sandbox refusals, SCRIPT and FUNCTION
//! subcommands, scripts from the wild (a sliding-window rate limiter, a token bucket, a lock
//! release) — `redis-cli --eval` runs a script file against spindle kv, and redis-py's
//! `register_script`, `eval`, `evalsha`, `function_load` and `fcall` work. Skipped with a note
//! when redis-server is not installed; `scripts/test` installs it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use bytes::BytesMut;
use common::kv::{redis_py, spindle_kv_with, RedisServer};
use common::Running;
use spindle_protocols::resp::{decode_frame, Frame, Limits};

/// A raw RESP connection.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Sends one command and reads its reply.
    fn call(&mut self, args: &[&[u8]]) -> Frame {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).unwrap();
        let limits = Limits::default();
        loop {
            if let Some(f) = decode_frame(&mut self.buf, &limits).unwrap() {
                return f;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// redis-server and spindle kv, a connection to each.
struct Pair {
    _redis: RedisServer,
    _spindle: Running,
    spindle_port: u16,
    c: [Raw; 2],
    compared: usize,
}

impl Pair {
    fn start() -> Option<Pair> {
        let redis = RedisServer::start()?;
        let (spindle, port) = spindle_kv_with(&[]);
        let c = [Raw::connect(redis.port), Raw::connect(port)];
        Some(Pair {
            _redis: redis,
            _spindle: spindle,
            spindle_port: port,
            c,
            compared: 0,
        })
    }

    /// Runs `args` on both servers and checks the replies are equal.
    fn both(&mut self, args: &[&[u8]]) -> Frame {
        let r = self.c[0].call(args);
        let s = self.c[1].call(args);
        assert_eq!(
            r,
            s,
            "{:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        );
        self.compared += 1;
        r
    }

    /// Runs `args` on both and compares the replies with every array of aggregates sorted
    /// (FUNCTION LIST lists functions in redis-server's hash table order).
    fn both_unordered(&mut self, args: &[&[u8]]) -> Frame {
        fn norm(f: Frame) -> Frame {
            match f {
                Frame::Array(items) => {
                    let mut items: Vec<Frame> = items.into_iter().map(norm).collect();
                    if items
                        .iter()
                        .all(|i| matches!(i, Frame::Array(_) | Frame::Map(_)))
                    {
                        items.sort_by_key(|i| format!("{i:?}"));
                    }
                    Frame::Array(items)
                }
                Frame::Map(pairs) => {
                    Frame::Map(pairs.into_iter().map(|(k, v)| (norm(k), norm(v))).collect())
                }
                other => other,
            }
        }
        let r = norm(self.c[0].call(args));
        let s = norm(self.c[1].call(args));
        assert_eq!(r, s);
        self.compared += 1;
        r
    }

    /// EVAL `script` with `rest` (numkeys, keys, args) on both.
    fn eval(&mut self, script: &str, rest: &[&str]) -> Frame {
        let mut args: Vec<&[u8]> = vec![b"EVAL", script.as_bytes()];
        args.extend(rest.iter().map(|s| s.as_bytes()));
        self.both(&args)
    }

    /// A command given as words on both.
    fn words(&mut self, line: &str) -> Frame {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.both(&args)
    }
}

/// Scripts whose replies are compared, each with `0` keys.
const CONVERSIONS: &[&str] = &[
    "return 1",
    "return -1",
    "return 3.99",
    "return -3.99",
    "return 1e30",
    "return 0/0",
    "return 'str'",
    "return ''",
    "return true",
    "return false",
    "return nil",
    "return {}",
    "return {1,2,3,'a',false,true,nil,5}",
    "return {1,{2,{3,{4}}}}",
    "return {ok='FINE'}",
    "return {ok='with\\r\\nnewline'}",
    "return {err='MY error'}",
    "return {err='plain'}",
    "return {double=1.5}",
    "return {double=3}",
    "return {big_number='12345678901234567890'}",
    "return {verbatim_string={format='txt', string='hello'}}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "return {map={a={set={x=true}}}}",
    "return redis.status_reply('OK')",
    "return redis.error_reply('ERR custom')",
    "return redis.error_reply('custom')",
    "return redis.error_reply(1)",
    "return redis.status_reply()",
    "return redis.call('ping')",
    "return redis.call('set','k',3.5)",
    "return redis.call('get','k')",
    "return redis.call('set','k',1e20)",
    "return redis.call('get','k')",
    "return redis.call('set','k',0.1)",
    "return redis.call('get','k')",
    "return redis.call('get','missing')",
    "return type(redis.call('get','missing'))",
    "return redis.call('rpush','l','a','b','c')",
    "return redis.call('lrange','l',0,-1)",
    "return redis.call('hset','h','f','v','g','w')",
    "return redis.call('hgetall','h')",
    "return redis.call('zadd','z',1.5,'a',2,'b')",
    "return redis.call('zrange','z',0,-1,'withscores')",
    "return redis.call('zscore','z','a')",
    "return redis.call('sadd','s','x')",
    "return redis.call('smembers','s')",
    "return redis.call('incrbyfloat','f','1.5')",
    "return redis.call('exists','k','l','nope')",
    "return redis.call('type','h')",
    "return redis.pcall('incr','l')",
    "return redis.call('select','1')",
    "redis.call('select','1') redis.call('set','in1','x') return redis.call('dbsize')",
    "return redis.call('dbsize')",
    "redis.setresp(3) return redis.call('hgetall','h')",
    "redis.setresp(3) local r = redis.call('hgetall','h') return r.map.f",
    "redis.setresp(3) return redis.call('zscore','z','a')",
    "redis.setresp(3) return redis.call('smembers','s')",
    "redis.setresp(3) return redis.call('get','missing')",
    "redis.setresp(3) return type(redis.call('get','missing'))",
    "redis.setresp(3) return true",
    "redis.setresp(3) return false",
    "redis.setresp(3) return redis.call('zrange','z',0,-1,'withscores')",
    "return redis.setresp(4)",
    "return redis.sha1hex('abc')",
    "return redis.sha1hex(123)",
    "return redis.REDIS_VERSION",
    "return redis.REDIS_VERSION_NUM",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
    "return redis.replicate_commands()",
    "return redis.breakpoint()",
    "return redis.debug('x')",
    "redis.log(redis.LOG_WARNING, 'from a test') return 1",
    "return redis.log(9, 'x')",
    "return redis.log(1)",
    "return redis.set_repl(99)",
    "redis.set_repl(redis.REPL_ALL) return 1",
    "return tostring(1/3)",
    "return tostring(1e15)",
    "return tostring(123456789012)",
    "return string.format('%d %s %.3f', 5, 'x', 1/3)",
    "return table.concat({1,2,3}, ',')",
    "return #KEYS + #ARGV",
    "return _VERSION",
    "return type(_G)",
    "return math.floor(math.pi * 1000)",
    "return tonumber('0x10')",
    "return select('#', 1, 2, 3)",
    "return {pcall(error, 'x')}",
    "return {pcall(redis.call, 'incr', 'l')}",
    "return {pcall(redis.call)}",
    "return {pcall(redis.call, {})}",
    "return redis.pcall()",
    "return redis.pcall({})",
    "return {xpcall(function() error('x') end, function(e) return 'handled ' .. e end)}",
    "local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}) return t.x",
    "return coroutine.wrap(function() coroutine.yield(7) end)()",
    "return cjson.encode({1, 2, 3})",
    "return cjson.encode({a = 1})",
    "return cjson.encode({a = {b = {c = 'x/y\"z'}}})",
    "return cjson.encode({1.5, -0.25, 1e100, 123456789012345})",
    "return cjson.encode('\\1\\127\\255')",
    "return cjson.encode({})",
    "return cjson.encode({[1]=1, [3]=3})",
    "return cjson.encode({[1]=1, [30]=3})",
    "return cjson.encode({true, false, cjson.null})",
    "return cjson.encode(0/0)",
    "return cjson.encode(function() end)",
    "return cjson.decode('[1,2,3]')",
    "return cjson.decode('{\"a\":[1,{\"b\":2}]}').a[2].b",
    "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')",
    "return cjson.decode('1.5e3')",
    "return cjson.decode('[1,2')",
    "return cjson.decode('{\"a\" 1}')",
    "return cjson.decode('')",
    "return cjson.decode('nul')",
    "return cjson.decode('[true,false,null]')[3] == cjson.null",
    "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, -32768, -32769)",
    "return cmsgpack.pack(1.5, 0.1, 1e100, 'short', string.rep('x', 40), string.rep('y', 300))",
    "return cmsgpack.pack({1, 2, 3}, {a = 1}, {}, true, false)",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, {k = 'v'}))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    // Nesting is bounded as lua-cmsgpack's Lua stack checks bound it (3,999 arrays deep
    // decode, 4,000 overflow), not by the server's own stack.
    "return #{cmsgpack.unpack(string.rep('\\145', 3999) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\145', 4000) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\145', 100000) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\129\\1', 3999) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\129\\1', 4000) .. '\\1')}",
    "return #{cmsgpack.unpack_one(string.rep('\\145', 4000) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\145', 3999) .. '\\1\\145\\1')}",
    "return cmsgpack.unpack('\\129\\192\\1')",
    "return cjson.encode({cmsgpack.unpack('\\146\\129\\161a\\145\\1\\144\\128')})",
    "return cmsgpack.unpack('\\193')",
    "return cmsgpack.unpack('\\218\\0')",
    "return bit.band(0xff, 0x0f)",
    "return bit.bor(1, 2, 4)",
    "return bit.bxor(0xff, 0x0f)",
    "return bit.bnot(0)",
    "return bit.lshift(1, 31)",
    "return bit.rshift(-1, 28)",
    "return bit.arshift(-256, 4)",
    "return bit.rol(0x12345678, 8)",
    "return bit.ror(0x12345678, 8)",
    "return bit.tobit(2^32 + 5)",
    "return bit.tohex(255)",
    "return bit.tohex(-1, -4)",
    "return bit.bswap(0x12345678)",
    "return bit.band('x')",
    "return struct.pack('>I2', 258)",
    "return struct.pack('<i', -2)",
    "return struct.pack('BhiLd', 1, -2, 3, 4, 0.5)",
    "return struct.pack('!4 b i', 1, 2)",
    "return struct.pack('s', 'abc')",
    "return struct.pack('c3', 'abcdef')",
    "return {struct.unpack('>I2', struct.pack('>I2', 258))}",
    "return {struct.unpack('<ibs', struct.pack('<ibs', -7, 5, 'str'))}",
    "return {struct.unpack('bc0', struct.pack('bc0', 3, 'abc'))}",
    "return struct.size('BhiLd')",
    "return struct.size('s')",
    "return struct.pack('q', 1)",
    "return struct.unpack('i', 'ab')",
];

/// Scripts that must fail the same way.
const ERRORS: &[&str] = &[
    "x = 1",
    "return y",
    "return redis.call('nosuch')",
    "return redis.call('get')",
    "return redis.call('incr','l')",
    "local x = 1\nlocal y = 2\nreturn redis.call('incr','l')",
    "error('boom')",
    "error({err='MY thing'})",
    "error({err='lower thing'})",
    "error()",
    "error(42)",
    "local t = nil; return t.x",
    "return 1 + {}",
    "syntax error here",
    "return os.time()",
    "return io",
    "return print",
    "return loadfile",
    "return dofile",
    "return debug",
    "return package",
    "return require",
    "string.x = 1",
    "math.pi = 3",
    "table.insert = nil",
    "redis.call = nil",
    "_G.x = 1",
    "rawset(_G, 'x', 1)",
    "setmetatable(_G, {})",
    "local f = loadstring('x = 1') f()",
    "return redis.call('blpop','l',0)",
    "return redis.call('eval','return 1','0')",
    "return redis.call('multi')",
    "return redis.call('subscribe','c')",
    "return redis.call('script','load','return 1')",
    "return redis.call('function','list')",
    "return redis.call('client','id')",
    "return redis.call('config','get','port')",
    "return redis.call('watch','k')",
    "return redis.call()",
    "return redis.call({})",
    "return redis.call('get', {})",
    "return redis.sha1hex()",
    "return redis.setresp()",
    "return math.random(0)",
    "return math.random(1, 2, 3)",
    "return math.randomseed()",
    "return cjson.encode()",
    "return cjson.decode()",
    "return cmsgpack.pack()",
    "return struct.pack('i')",
    "return string.rep()",
    "while true do error('in loop') end",
];

#[test]
fn scripts_reply_the_same_in_resp2_and_resp3() {
    let Some(mut p) = Pair::start() else { return };
    // math.random's sequence is the server's, from its start: checked first.
    for script in [
        "return math.random()",
        "return math.random(100)",
        "return {math.random(1, 6), math.random(1000)}",
        "math.randomseed(42) return math.random(1000)",
        "return math.random(10, 20)",
    ] {
        p.eval(script, &["0"]);
    }
    for version in ["2", "3"] {
        for c in &mut p.c {
            c.call(&[b"HELLO", version.as_bytes()]);
        }
        p.words("FLUSHALL");
        for script in CONVERSIONS.iter().chain(ERRORS) {
            p.eval(script, &["0"]);
        }
        p.eval(
            "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}",
            &["2", "a", "b", "c", "d"],
        );
        p.eval("return KEYS", &["0"]);
        p.eval("return ARGV", &["0", "x"]);
        p.eval("return 1", &["-1"]);
        p.eval("return 1", &["2", "a"]);
        p.eval("return 1", &["x"]);
        p.eval("return 1", &["1"]);
        p.both(&[b"EVAL", b"return 1"]);
    }
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn script_cache_shebangs_and_read_only_variants() {
    let Some(mut p) = Pair::start() else { return };
    let sha = p.both(&[b"SCRIPT", b"LOAD", b"return ARGV[1]"]);
    let Frame::Bulk(sha) = sha else {
        panic!("{sha:?}")
    };
    p.both(&[b"EVALSHA", &sha, b"0", b"v"]);
    p.both(&[b"EVALSHA", &sha.to_ascii_uppercase(), b"0", b"v"]);
    p.both(&[b"EVALSHA_RO", &sha, b"0", b"v"]);
    p.words("EVALSHA abc 0");
    p.words("EVALSHA ffffffffffffffffffffffffffffffffffffffff 0");
    p.words("EVALSHA abc x");
    p.words("EVALSHA ffffffffffffffffffffffffffffffffffffffff x");
    p.both(&[
        b"SCRIPT",
        b"EXISTS",
        &sha,
        b"nope",
        &sha.to_ascii_uppercase(),
    ]);
    p.words("SCRIPT FLUSH");
    p.both(&[b"SCRIPT", b"EXISTS", &sha]);
    p.both(&[b"EVALSHA", &sha, b"0"]);
    p.words("SCRIPT FLUSH ASYNC");
    p.words("SCRIPT FLUSH SYNC");
    p.words("SCRIPT FLUSH NOW");
    p.words("SCRIPT KILL");
    p.words("SCRIPT HELP");
    p.words("SCRIPT NOPE");
    p.words("SCRIPT");
    p.words("SCRIPT LOAD");
    p.words("SCRIPT EXISTS");
    p.both(&[b"SCRIPT", b"LOAD", b"syntax error"]);
    p.both(&[b"SCRIPT", b"LOAD", b"#!lua flags=nope\nreturn 1"]);
    for (cmd, script) in [
        ("EVAL_RO", "return redis.call('set','a','1')"),
        ("EVAL_RO", "return redis.call('get','a')"),
        ("EVAL_RO", "return redis.call('publish','c','m')"),
        ("EVAL_RO", "return redis.call('pfcount','h')"),
        ("EVAL_RO", "#!lua\nreturn 1"),
        (
            "EVAL_RO",
            "#!lua flags=no-writes\nreturn redis.call('get','a')",
        ),
        (
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('set','a','1')",
        ),
        ("EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1"),
        (
            "EVAL",
            "#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys\nreturn 2",
        ),
        ("EVAL", "#!lua flags=\nreturn 3"),
        ("EVAL", "#!lua\nreturn redis.call('set','a','2')"),
        ("EVAL", "#!lua flags=bogus\nreturn 1"),
        ("EVAL", "#!lua other=1\nreturn 1"),
        ("EVAL", "#!luajit\nreturn 1"),
        ("EVAL", "#!lua"),
        ("EVAL", "#!lua\n\nerror('line three')"),
    ] {
        p.both(&[cmd.as_bytes(), script.as_bytes(), b"0"]);
    }
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn functions_side_by_side() {
    let Some(mut p) = Pair::start() else { return };
    let lib = "#!lua name=mylib\n\
        local function add(keys, args) return redis.call('incrby', keys[1], args[1]) end\n\
        redis.register_function('add', add)\n\
        redis.register_function{function_name='get', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}\n\
        redis.register_function{function_name='boom', callback=function() error('bad') end}\n\
        redis.register_function{function_name='rw', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}\n\
        redis.register_function{function_name='resp', callback=function() redis.setresp(3) return redis.call('hgetall', 'h') end, flags={'allow-oom', 'allow-stale'}}";
    p.both(&[b"FUNCTION", b"LOAD", lib.as_bytes()]);
    p.both(&[b"FUNCTION", b"LOAD", lib.as_bytes()]);
    p.both(&[b"FUNCTION", b"LOAD", b"REPLACE", lib.as_bytes()]);
    p.both(&[b"FUNCTION", b"LOAD", b"NOPE", lib.as_bytes()]);
    p.words("FCALL add 1 n 5");
    p.words("FCALL add 1 n 5");
    p.words("FCALL get 1 n");
    p.words("FCALL_RO get 1 n");
    p.words("FCALL_RO add 1 n 1");
    p.words("FCALL boom 0");
    p.words("FCALL rw 1 n");
    p.words("HSET h a 1");
    p.words("FCALL resp 0");
    p.words("FCALL nope 0");
    p.words("FCALL add x");
    p.words("FCALL add 5 a");
    p.words("FCALL add -1");
    p.both_unordered(&[b"FUNCTION", b"LIST"]);
    p.both_unordered(&[b"FUNCTION", b"LIST", b"WITHCODE"]);
    p.both_unordered(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"my*"]);
    p.words("FUNCTION LIST LIBRARYNAME zz*");
    p.words("FUNCTION LIST LIBRARYNAME");
    p.words("FUNCTION LIST BOGUS");
    p.words("FUNCTION STATS");
    p.words("FUNCTION KILL");
    p.words("FUNCTION HELP");
    p.words("FUNCTION NOPE");
    p.words("FUNCTION DELETE nope");
    // Each server restores its own payload (the LZF compression of the code may differ in
    // its bytes; either server reads the other's, checked at the end).
    let dumps: Vec<Vec<u8>> =
        p.c.iter_mut()
            .map(|c| match c.call(&[b"FUNCTION", b"DUMP"]) {
                Frame::Bulk(b) => b.to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
    let restore = |p: &mut Pair, extra: &[&[u8]]| {
        let replies: Vec<Frame> = (0..2)
            .map(|i| {
                let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &dumps[i]];
                args.extend_from_slice(extra);
                p.c[i].call(&args)
            })
            .collect();
        assert_eq!(replies[0], replies[1], "RESTORE {extra:?}");
        p.compared += 1;
    };
    restore(&mut p, &[]);
    restore(&mut p, &[b"REPLACE"]);
    restore(&mut p, &[b"BOGUS"]);
    p.both(&[b"FUNCTION", b"RESTORE", b"garbage"]);
    p.words("FUNCTION DELETE mylib");
    p.words("FCALL add 1 n 1");
    restore(&mut p, &[]);
    p.words("FCALL add 1 n 1");
    p.words("FUNCTION FLUSH");
    p.words("FUNCTION FLUSH BAD");
    p.both_unordered(&[b"FUNCTION", b"LIST"]);
    for bad in [
        "lua",
        "#!lua",
        "#!lua x=1\n",
        "#!lua name=a name=b\n",
        "#!py name=q\n",
        "#!lua name=a-b\n",
        "#!lua name=l\nlocal x = 1",
        "#!lua name=l\nreturn string.len('a')",
        "#!lua name=l\nredis.call('ping')",
        "#!lua name=l\nredis.register_function('f')",
        "#!lua name=l\nredis.register_function('f', 1)",
        "#!lua name=l\nredis.register_function(1, function() end)",
        "#!lua name=l\nredis.register_function('a-b', function() end)",
        "#!lua name=l\nredis.register_function('f', function() end) redis.register_function('f', function() end)",
        "#!lua name=l\nredis.register_function{function_name='f'}",
        "#!lua name=l\nredis.register_function{callback=function() end}",
        "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}",
        "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, other=1}",
        "#!lua name=l\nsyntax error",
        "#!lua name=l\nredis.log(redis.LOG_NOTICE, 'loading') redis.register_function('f', function() return redis.REDIS_VERSION end)",
    ] {
        p.both(&[b"FUNCTION", b"LOAD", bad.as_bytes()]);
    }
    p.words("FCALL f 0");
    // A payload made by redis-server is read by spindle kv, and the other way round.
    let lib2 = "#!lua name=other\nredis.register_function('hello', function(k, a) return 'hello ' .. a[1] end)";
    p.both(&[b"FUNCTION", b"FLUSH"]);
    let made_by_redis = p.c[0].call(&[b"FUNCTION", b"LOAD", lib2.as_bytes()]);
    assert_eq!(made_by_redis, Frame::Bulk("other".into()));
    let Frame::Bulk(from_redis) = p.c[0].call(&[b"FUNCTION", b"DUMP"]) else {
        panic!()
    };
    assert_eq!(
        p.c[1].call(&[b"FUNCTION", b"RESTORE", &from_redis, b"REPLACE"]),
        Frame::Simple("OK".into())
    );
    p.words("FCALL hello 0 world");
    eprintln!("{} replies compared", p.compared);
}

/// A sliding-window rate limiter as commonly written (a sorted set of request times).
const RATE_LIMITER: &str = r#"
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, now .. '-' .. ARGV[4])
  redis.call('PEXPIRE', key, window)
  return {1, limit - count - 1}
end
return {0, 0}
"#;

/// A token bucket (the shape of the popular Lua bucket limiters; time passed in).
const TOKEN_BUCKET: &str = r#"
local tokens_key, ts_key = KEYS[1], KEYS[2]
local rate, capacity, now, requested = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local fill_time = capacity / rate
local ttl = math.floor(fill_time * 2)
local last_tokens = tonumber(redis.call('get', tokens_key))
if last_tokens == nil then last_tokens = capacity end
local last_refreshed = tonumber(redis.call('get', ts_key))
if last_refreshed == nil then last_refreshed = 0 end
local delta = math.max(0, now - last_refreshed)
local filled_tokens = math.min(capacity, last_tokens + (delta * rate))
local allowed = filled_tokens >= requested
local new_tokens = filled_tokens
local allowed_num = 0
if allowed then
  new_tokens = filled_tokens - requested
  allowed_num = 1
end
if ttl > 0 then
  redis.call('setex', tokens_key, ttl, new_tokens)
  redis.call('setex', ts_key, ttl, now)
end
return { allowed_num, new_tokens }
"#;

/// The lock release from the Redis documentation (and redlock clients).
const LOCK_RELEASE: &str = r#"
if redis.call("get",KEYS[1]) == ARGV[1] then
    return redis.call("del",KEYS[1])
else
    return 0
end
"#;

#[test]
fn scripts_from_the_wild() {
    let Some(mut p) = Pair::start() else { return };
    for i in 0..12 {
        let now = (1_000 + i * 100).to_string();
        p.eval(
            RATE_LIMITER,
            &["1", "rl", &now, "1000", "5", &i.to_string()],
        );
    }
    p.words("ZCARD rl");
    for (now, requested) in [(100, 1), (100, 5), (101, 3), (101, 3), (110, 10), (111, 1)] {
        p.eval(
            TOKEN_BUCKET,
            &[
                "2",
                "tb.tokens",
                "tb.ts",
                "1",
                "10",
                &now.to_string(),
                &requested.to_string(),
            ],
        );
    }
    p.words("GET tb.tokens");
    p.words("SET lock owner-1 NX PX 30000");
    p.eval(LOCK_RELEASE, &["1", "lock", "owner-2"]);
    p.words("EXISTS lock");
    p.eval(LOCK_RELEASE, &["1", "lock", "owner-1"]);
    p.words("EXISTS lock");
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn redis_cli_eval_runs_a_script_file() {
    let Some(p) = Pair::start() else { return };
    let dir = std::env::temp_dir().join(format!("kv-scripting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("incr.lua");
    std::fs::write(
        &file,
        "redis.call('set', KEYS[1], ARGV[1])\nreturn {redis.call('incrby', KEYS[1], ARGV[2]), KEYS[2]}\n",
    )
    .unwrap();
    let out = Command::new("redis-cli")
        .args(["-p", &p.spindle_port.to_string(), "--eval"])
        .arg(&file)
        .args(["counter", "other", ",", "10", "5"])
        .output()
        .expect("redis-cli runs");
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "15\nother\n");
}

#[test]
fn writes_of_a_script_wake_blocked_clients_after_it() {
    let Some(mut p) = Pair::start() else { return };
    // BLPOP on each server, then a script that pushes and pops again: the script runs as a
    // whole first, so the blocked client gets only what is left.
    let ports = [p._redis.port, p.spindle_port];
    let mut waiters: Vec<Raw> = ports.iter().map(|&port| Raw::connect(port)).collect();
    for w in &mut waiters {
        let cmd = b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n5\r\n";
        w.stream.write_all(cmd).unwrap();
    }
    // Both waiters are parked once CLIENT LIST shows them blocked.
    for c in &mut p.c {
        for _ in 0..200 {
            let Frame::Bulk(list) = c.call(&[b"CLIENT", b"LIST"]) else {
                panic!()
            };
            if String::from_utf8_lossy(&list).contains("cmd=blpop") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    p.eval(
        "redis.call('rpush', 'q', 'a', 'b') return redis.call('lpop', 'q')",
        &["0"],
    );
    let got: Vec<Frame> = waiters
        .iter_mut()
        .map(|w| {
            let limits = Limits::default();
            loop {
                if let Some(f) = decode_frame(&mut w.buf, &limits).unwrap() {
                    return f;
                }
                let mut chunk = [0u8; 1024];
                let n = w.stream.read(&mut chunk).unwrap();
                w.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .collect();
    assert_eq!(got[0], got[1]);
    assert_eq!(
        got[1],
        Frame::Array(vec![Frame::Bulk("q".into()), Frame::Bulk("b".into())])
    );
}

#[test]
#[ignore = "needs redis-py: run scripts/test"]
fn redis_py_scripts_and_functions() {
    let (_server, port) = spindle_kv_with(&[]);
    let script = r##"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
r.set("n", 1)
incr = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
assert incr(keys=["n"], args=[5]) == 6
assert incr(keys=["n"], args=[1]) == 7
assert r.eval("return {KEYS[1], ARGV[1]}", 1, "k", "v") == [b"k", b"v"]
sha = r.script_load("return 'cached'")
assert r.evalsha(sha, 0) == b"cached"
assert r.script_exists(sha) == [True]
r.script_flush()
assert r.script_exists(sha) == [False]
try:
    r.evalsha(sha, 0)
    raise SystemExit("evalsha after flush should fail")
except redis.exceptions.NoScriptError:
    pass
try:
    r.eval("return redis.call('incr', 'nope', 'x')", 0)
    raise SystemExit("a bad call should fail")
except redis.exceptions.ResponseError as e:
    assert "Wrong number of args" in str(e), e
lib = "#!lua name=pylib\nredis.register_function('echo', function(keys, args) return args[1] end)"
assert r.function_load(lib) == b"pylib"
assert r.function_load(lib, replace=True) == b"pylib"
assert r.fcall("echo", 0, "hi") == b"hi"
try:
    r.fcall_ro("echo", 0, "hi")
    raise SystemExit("fcall_ro of a function without no-writes should fail")
except redis.exceptions.ResponseError as e:
    assert "write flag" in str(e), e
libs = r.function_list()
assert libs[0][1] == b"pylib", libs
r.function_delete("pylib")
print("ok")
"##;
    assert_eq!(redis_py(&["-c", script, &port.to_string()]), "ok\n");
}

/// A connection to each server of `pair`, redis-server's first.
fn conns(pair: &Pair) -> [common::kv::Raw; 2] {
    [pair._redis.port, pair.spindle_port].map(common::kv::Raw::connect)
}

/// Runs `args` on both connections and checks the replies are equal.
fn same(c: &mut [common::kv::Raw; 2], args: &[&str]) -> Frame {
    let r = c[0].args(args);
    let s = c[1].args(args);
    assert_eq!(s, r, "{args:?}: spindle kv (left), redis-server (right)");
    r
}

/// A library whose functions write and read their key, loaded by the default user.
const ACL_LIBRARY: &str = "#!lua name=acllib\n\
    redis.register_function('setit', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
    redis.register_function('getit', function(keys, args) return redis.call('get', keys[1]) end)\n\
    redis.register_function('psetit', function(keys, args) return redis.pcall('set', keys[1], args[1]) end)";

#[test]
fn commands_of_scripts_obey_the_callers_acl() {
    let Some(pair) = Pair::start() else { return };
    let mut admin = conns(&pair);
    same(&mut admin, &["ACL", "LOG", "RESET"]);
    same(
        &mut admin,
        &[
            "ACL", "SETUSER", "scripter", "on", ">pw", "~k*", "&allowed", "+@all", "-set",
        ],
    );
    same(&mut admin, &["FUNCTION", "LOAD", ACL_LIBRARY]);
    let mut c = conns(&pair);
    same(&mut c, &["AUTH", "scripter", "pw"]);
    let scripts: &[&[&str]] = &[
        // The command, a key outside ~k*, a channel outside &allowed.
        &["EVAL", "return redis.call('set','k1','v')", "0"],
        &["EVAL", "return redis.pcall('set','k1','v')", "0"],
        &["EVAL", "local r = redis.pcall('set','k1','v') return r['err']", "0"],
        &["EVAL", "return {pcall(redis.call, 'set', 'k1', 'v')}", "0"],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "other"],
        &["EVAL", "return redis.pcall('get', 'other')", "0"],
        &["EVAL", "return redis.call('incr','k2')", "0"],
        &["EVAL", "return redis.call('publish','forbidden','m')", "0"],
        &["EVAL", "return redis.call('publish','allowed','m')", "0"],
        &["EVAL_RO", "return redis.call('get','other')", "0"],
        // The ACL check a script asks for itself.
        &[
            "EVAL",
            "return {redis.acl_check_cmd('get','k1') and 1 or 0, redis.acl_check_cmd('set','k1','v') and 1 or 0, redis.acl_check_cmd('get','zz') and 1 or 0}",
            "0",
        ],
        &["EVAL", "return redis.acl_check_cmd('nosuchcommand')", "0"],
        &["EVAL", "return redis.acl_check_cmd()", "0"],
        // Functions: the same checks.
        &["FCALL", "setit", "1", "k1", "v"],
        &["FCALL", "psetit", "1", "k1", "v"],
        &["FCALL", "getit", "1", "other"],
        &["FCALL", "getit", "1", "k2"],
        &["FCALL_RO", "getit", "1", "other"],
    ];
    for args in scripts {
        same(&mut c, args);
    }
    // The default user is not held back.
    same(
        &mut admin,
        &["EVAL", "return redis.call('set','other','v')", "0"],
    );
    // Each refusal is in ACL LOG with the context `lua`, object and user as redis-server has.
    let [r, s] = [0, 1].map(|i| common::kv::acl_log_fields(admin[i].args(&["ACL", "LOG", "50"])));
    assert_eq!(s, r, "ACL LOG: spindle kv (left)");
    assert!(
        r.iter()
            .any(|e| e.iter().any(|f| f.contains("lua")) && e.iter().any(|f| f.contains("other"))),
        "{r:?}"
    );
    same(&mut admin, &["ACL", "DELUSER", "scripter"]);
    same(&mut admin, &["FUNCTION", "DELETE", "acllib"]);
}

/// A MONITOR line with its time and the client's address taken out (`[db lua]` stays).
fn monitor_line(f: Frame) -> String {
    let Frame::Simple(b) = f else {
        panic!("not a MONITOR line: {f:?}")
    };
    let text = String::from_utf8_lossy(&b).into_owned();
    let (_time, rest) = text.split_once(' ').expect("a time");
    let (client, args) = rest.split_once("] ").expect("a client");
    let client = match client.split_once(' ') {
        Some((db, "lua")) => format!("{db} lua]"),
        Some((db, _addr)) => format!("{db} peer]"),
        None => client.to_string(),
    };
    format!("{client} {args}")
}

#[test]
fn monitor_shows_the_commands_of_scripts_after_them() {
    let Some(pair) = Pair::start() else { return };
    let mut monitor = conns(&pair);
    for m in &mut monitor {
        assert_eq!(m.cmd("MONITOR"), Frame::Simple("OK".into()));
    }
    let mut c = conns(&pair);
    let sha = same(
        &mut c,
        &["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"],
    );
    let Frame::Bulk(sha) = sha else {
        panic!("{sha:?}")
    };
    let sha = String::from_utf8_lossy(&sha).into_owned();
    let library = "#!lua name=monlib\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";
    let lines: &[&[&str]] = &[
        &[
            "EVAL",
            "redis.call('incr', KEYS[1]) redis.call('select', 1) redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])",
            "1",
            "x",
            "with \"quotes\"\n",
        ],
        &["EVALSHA", &sha, "1", "x"],
        &["EVALSHA_RO", &sha, "1", "x"],
        &["EVALSHA", "0000000000000000000000000000000000000000", "0"],
        &["EVAL", "return redis.pcall('nosuchcommand')", "0"],
        &["EVAL", "return 1 +", "0"],
        &["FUNCTION", "LOAD", library],
        &["FCALL", "bump", "1", "y"],
        &["FCALL_RO", "bump", "1", "y"],
        &["FUNCTION", "DELETE", "monlib"],
        &["ECHO", "end"],
    ];
    for args in lines {
        same(&mut c, args);
    }
    let [r, s] = [0, 1].map(|i| {
        let mut seen = Vec::new();
        loop {
            let line = monitor_line(monitor[i].read());
            let end = line.ends_with("\"ECHO\" \"end\"");
            seen.push(line);
            if end {
                break seen;
            }
        }
    });
    assert_eq!(s, r, "MONITOR: spindle kv (left)");
    assert!(r.contains(&"[1 lua] \"get\" \"x\"".to_string()), "{r:?}");
}

#[test]
fn keys_read_by_scripts_are_tracked_for_the_caller() {
    let Some(pair) = Pair::start() else { return };
    let mut reader = conns(&pair);
    let mut writer = conns(&pair);
    for c in &mut reader {
        assert!(matches!(c.cmd("HELLO 3"), Frame::Map(_)));
    }
    let read: &[&[&str]] = &[
        &["CLIENT", "TRACKING", "on"],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "t1"],
        // Redis 7.0 remembers the keys the EVAL names, not those its commands read.
        &["EVAL", "return redis.call('get', 't2')", "0"],
        &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "t3"],
        &["EVAL", "return 1", "1", "t4"],
        &["EVAL", "return redis.call('set', KEYS[1], 'w')", "1", "t8"],
        &["FCALL_RO", "getit", "1", "t9"],
        &["GET", "t5"],
        &["GET", "t6"],
    ];
    same(&mut writer, &["FUNCTION", "LOAD", ACL_LIBRARY]);
    for args in read {
        same(&mut reader, args);
    }
    let write: &[&[&str]] = &[
        &[
            "MSET", "t1", "a", "t2", "b", "t3", "c", "t4", "d", "t8", "e", "t9", "f",
        ],
        // A script's write invalidates the key it wrote, not every key it names.
        &[
            "EVAL",
            "return redis.call('set', KEYS[1], 'x')",
            "2",
            "t5",
            "t6",
        ],
        &["SET", "t6", "y"],
    ];
    for args in write {
        same(&mut writer, args);
    }
    // What the reader was sent meanwhile, up to the reply of a PING.
    let [r, s] = [0, 1].map(|i| {
        reader[i].send_args(&["PING"]);
        let mut got = Vec::new();
        loop {
            let f = reader[i].read();
            if f == Frame::Simple("PONG".into()) {
                break got;
            }
            got.push(f);
        }
    });
    assert_eq!(s, r, "invalidations: spindle kv (left)");
    assert!(r.len() >= 3, "{r:?}");
    // Its own script's write, with NOLOOP: nothing; without, an invalidation.
    same(&mut reader, &["CLIENT", "TRACKING", "on", "NOLOOP"]);
    same(&mut reader, &["GET", "own"]);
    same(
        &mut reader,
        &["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "own"],
    );
    same(&mut reader, &["CLIENT", "TRACKING", "off"]);
    same(&mut reader, &["CLIENT", "TRACKING", "on"]);
    same(&mut reader, &["GET", "own2"]);
    reader.iter_mut().for_each(|c| {
        c.send_args(&[
            "EVAL",
            "return redis.call('set', KEYS[1], 'v')",
            "1",
            "own2",
        ])
    });
    let [r, s] = [0, 1].map(|i| [reader[i].read(), reader[i].read()]);
    assert_eq!(s, r, "own script's write: spindle kv (left)");
    same(&mut writer, &["FUNCTION", "DELETE", "acllib"]);
}
