//! Unit tests of the scripting commands through the engine; the texts are redis-server
//! 7.0.15's (checked with redis-cli).

use crate::testkit::*;

fn eval(t: &mut T, script: &str, rest: &[&str]) -> Frame {
    let mut args: Vec<&[u8]> = vec![b"EVAL", script.as_bytes()];
    args.extend(rest.iter().map(|s| s.as_bytes()));
    t.args(&args)
}

fn eval0(t: &mut T, script: &str) -> Frame {
    eval(t, script, &["0"])
}

#[test]
fn conversions_lua_to_resp() {
    let mut t = T::new();
    assert_eq!(
        eval0(&mut t, "return {1,2,3.9,'a',false,true,nil,5}"),
        arr(vec![i(1), i(2), i(3), b("a"), Frame::Null, i(1)])
    );
    assert_eq!(eval0(&mut t, "return 3.99"), i(3));
    assert_eq!(eval0(&mut t, "return -3.99"), i(-3));
    assert_eq!(
        eval0(&mut t, "return redis.status_reply('FINE')"),
        Frame::Simple("FINE".into())
    );
    assert_eq!(eval0(&mut t, "return {err='X y'}"), e("X y"));
    assert_eq!(
        eval0(&mut t, "return redis.error_reply('bad')"),
        e("ERR bad")
    );
    assert_eq!(
        eval0(&mut t, "return redis.error_reply('MY bad')"),
        e("MY bad")
    );
    assert_eq!(eval0(&mut t, "return nil"), Frame::Null);
    assert_eq!(
        eval(
            &mut t,
            "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
            &["1", "k", "a"]
        ),
        arr(vec![b("k"), b("a"), i(1), i(1)])
    );
}

#[test]
fn conversions_resp3() {
    let mut t = T::with_resp3();
    assert_eq!(
        eval0(&mut t, "redis.setresp(3) return {double=1.5}"),
        Frame::Double(1.5)
    );
    assert_eq!(
        eval0(&mut t, "return {map={a=1}}"),
        Frame::Map(vec![(b("a"), i(1))])
    );
    assert_eq!(
        eval0(&mut t, "return {set={a=true}}"),
        Frame::Set(vec![b("a")])
    );
    assert_eq!(
        eval0(&mut t, "redis.setresp(3) return true"),
        Frame::Boolean(true)
    );
    assert_eq!(eval0(&mut t, "return false"), Frame::Null);
    t.run("HSET h f v");
    assert_eq!(
        eval0(
            &mut t,
            "redis.setresp(3) local r = redis.call('hgetall','h') return r.map.f"
        ),
        b("v")
    );
    assert_eq!(
        eval0(
            &mut t,
            "redis.setresp(3) return redis.call('get','missing') == nil"
        ),
        Frame::Boolean(true)
    );
    assert_eq!(
        eval0(&mut t, "return redis.call('get','missing') == false"),
        i(1)
    );
}

#[test]
fn errors_name_the_script_and_line() {
    let mut t = T::new();
    t.run("SET s foo");
    let cases = [
        ("x=1", "ERR user_script:1: Attempt to modify a readonly table script: 7caf6056913504f0508c65faf2dc3f94ff65bcfd, on @user_script:1."),
        ("return y", "ERR user_script:1: Script attempted to access nonexistent global variable 'y' script: e278681ed961e2fb52881313e5c90fdd93749940, on @user_script:1."),
        ("return redis.call('nosuch')", "ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1."),
        ("return redis.call('get')", "ERR Wrong number of args calling Redis command from script script: f187dee77f607f7cff00bbabc9df38507582c78d, on @user_script:1."),
        ("return redis.call('incr','s')", "ERR value is not an integer or out of range script: c243b9f46db13ba8f69da41b45a77708832babed, on @user_script:1."),
        ("return redis.pcall('incr','s')", "ERR value is not an integer or out of range"),
        ("error('boom')", "ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1."),
        ("error({err='MY thing'})", "MY thing script: 93d8b901ec4b7fd324068674dd9d7b37abbba276, on @user_script:1."),
        ("syntax error here", "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"),
        ("return os.time()", "ERR user_script:1: Script attempted to access nonexistent global variable 'os' script: 13dea82ee9da896aebcd10f5e36f4a1eeb839b48, on @user_script:1."),
        ("string.x = 1", "ERR user_script:1: Attempt to modify a readonly table script: c3eb0a2a15b3d4790b323c4104029c1ae425a769, on @user_script:1."),
        ("return redis.call('blpop','nol',0)", "ERR This Redis command is not allowed from script script: f91a66c0381b0e1a423ba7cd008254f3cb4bca2f, on @user_script:1."),
        ("return cjson.decode('x')", "ERR user_script:1: Expected value but found invalid token at character 1 script: 5f58dd5cefb3eb0313af3534f36be4b83e79ae80, on @user_script:1."),
    ];
    for (script, want) in cases {
        assert_eq!(eval0(&mut t, script), e(want), "{script}");
    }
    assert_eq!(
        eval0(&mut t, "local ok, e = pcall(cjson.decode, 'x') return e"),
        b("Expected value but found invalid token at character 1")
    );
    assert_eq!(
        eval0(
            &mut t,
            "local ok, e = pcall(redis.call, 'incr', 's') return e"
        ),
        b("ERR value is not an integer or out of range")
    );
}

#[test]
fn eval_arguments_and_the_cache() {
    let mut t = T::new();
    assert_eq!(
        eval(&mut t, "return 1", &["-1"]),
        e("ERR Number of keys can't be negative")
    );
    assert_eq!(
        eval(&mut t, "return 1", &["2", "a"]),
        e("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(eval(&mut t, "return 1", &["x"]), e(NOT_INT));
    let noscript = e("NOSCRIPT No matching script. Please use EVAL.");
    assert_eq!(t.run("EVALSHA abc 0"), noscript);
    assert_eq!(
        t.run("EVALSHA ffffffffffffffffffffffffffffffffffffffff 0"),
        noscript
    );
    assert_eq!(
        t.args(&[b"SCRIPT", b"LOAD", b"return 1"]),
        b("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    );
    assert_eq!(
        t.run("EVALSHA E0E1F9FABFC9D4800C877A703B823AC0578FF8DB 0"),
        i(1)
    );
    assert_eq!(
        t.run("SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db nope"),
        ints(&[1, 0])
    );
    assert_eq!(t.run("SCRIPT FLUSH"), ok());
    assert_eq!(
        t.run("SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
        ints(&[0])
    );
    assert_eq!(
        t.run("SCRIPT FLUSH bad"),
        e("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    );
    assert_eq!(
        t.run("SCRIPT KILL"),
        e("NOTBUSY No scripts in execution right now.")
    );
}

#[test]
fn read_only_scripts_refuse_writes() {
    let mut t = T::new();
    assert_eq!(
        t.args(&[b"EVAL_RO", b"return redis.call('set','a','1')", b"0"]),
        e("ERR Write commands are not allowed from read-only scripts. script: 67ed14c1cb086d8c2fcf91ebe13410ba087fd0f8, on @user_script:1.")
    );
    assert_eq!(
        eval0(
            &mut t,
            "#!lua flags=no-writes\nreturn redis.call('set','a','1')"
        )
        .to_string_lossy_error(),
        "ERR Write commands are not allowed from read-only scripts.".to_string()
    );
    assert_eq!(
        t.args(&[b"EVAL_RO", b"#!lua\nreturn 1", b"0"]),
        e("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        eval0(&mut t, "#!lua flags=bogus\nreturn 1"),
        e("ERR Unexpected flag in script shebang: bogus")
    );
    assert_eq!(
        eval0(&mut t, "#!luajit\nreturn 1"),
        e("ERR Unexpected engine in script shebang: #!luajit")
    );
}

trait ErrorPrefix {
    fn to_string_lossy_error(&self) -> String;
}

impl ErrorPrefix for Frame {
    /// The error text up to " script:".
    fn to_string_lossy_error(&self) -> String {
        match self {
            Frame::Error(b) => {
                let s = String::from_utf8_lossy(b).into_owned();
                s.split(" script:").next().unwrap_or_default().to_string()
            }
            other => panic!("not an error: {other:?}"),
        }
    }
}

#[test]
fn random_is_redis_sequence_and_libraries_work() {
    let mut t = T::new();
    assert_eq!(eval0(&mut t, "return math.random(100)"), i(40));
    assert_eq!(eval0(&mut t, "return math.random(100)"), i(85));
    assert_eq!(
        eval0(&mut t, "return redis.sha1hex('')"),
        b("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
    assert_eq!(
        eval0(&mut t, "return bit.tohex(bit.bnot(0))"),
        b("ffffffff")
    );
    assert_eq!(eval0(&mut t, "return bit.band(0xff, 0x0f, 7)"), i(7));
    assert_eq!(
        eval0(&mut t, "return cjson.encode({1,2,{a=1}})"),
        b("[1,2,{\"a\":1}]")
    );
    assert_eq!(
        eval0(&mut t, "return cjson.encode({a='x/y'})"),
        b("{\"a\":\"x\\/y\"}")
    );
    assert_eq!(
        eval0(&mut t, "return cjson.decode('[1,{\"a\":2}]')[2].a"),
        i(2)
    );
    assert_eq!(
        eval0(&mut t, "return cmsgpack.unpack(cmsgpack.pack({1,2,3}))"),
        ints(&[1, 2, 3])
    );
    assert_eq!(
        eval0(&mut t, "return struct.unpack('>i', struct.pack('>i', -5))"),
        i(-5)
    );
    assert_eq!(eval0(&mut t, "return struct.size('>iBd')"), i(13));
}

#[test]
fn script_writes_propagate_as_effects() {
    let mut t = T::new();
    t.server.db.propagation.aof = Some(Default::default());
    eval(
        &mut t,
        "redis.call('set', KEYS[1], 'v') redis.call('incr', 'n') return 1",
        &["1", "k"],
    );
    eval0(&mut t, "return redis.call('get', 'k')");
    let feed = t.server.db.propagation.aof.as_mut().unwrap();
    let text = String::from_utf8(feed.buf.split().to_vec()).unwrap();
    assert!(text.contains("MULTI"), "{text}");
    assert!(
        text.contains("$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n"),
        "{text}"
    );
    assert!(text.contains("$4\r\nincr\r\n$1\r\nn\r\n"), "{text}");
    assert!(!text.to_lowercase().contains("eval"), "{text}");
    eval0(
        &mut t,
        "redis.set_repl(redis.REPL_NONE) redis.call('set','quiet','1') return 1",
    );
    let feed = t.server.db.propagation.aof.as_mut().unwrap();
    assert_eq!(feed.buf.len(), 0);
}

#[test]
fn script_writes_touch_watched_keys() {
    let mut t = T::new();
    let mut other = t.other(1);
    t.run_as(&mut other, "WATCH k");
    t.run_as(&mut other, "MULTI");
    t.run_as(&mut other, "GET k");
    eval(&mut t, "return redis.call('set', 'k', 'v')", &["0"]);
    assert_eq!(t.run_as(&mut other, "EXEC"), Frame::Null);
}

fn load(t: &mut T, code: &str) -> Frame {
    t.args(&[b"FUNCTION", b"LOAD", code.as_bytes()])
}

#[test]
fn functions_load_call_list_and_errors() {
    let mut t = T::new();
    let lib = "#!lua name=l1\nredis.register_function('f1', function(keys, args) return {keys[1], args[1], redis.call('ping')} end)\nredis.register_function{function_name='f2', callback=function() return 2 end, flags={'no-writes'}, description='two'}";
    assert_eq!(load(&mut t, lib), b("l1"));
    assert_eq!(load(&mut t, lib), e("ERR Library 'l1' already exists"));
    assert_eq!(
        t.run("FCALL f1 1 k a"),
        arr(vec![b("k"), b("a"), Frame::Simple("PONG".into())])
    );
    assert_eq!(t.run("FCALL f2 0"), i(2));
    assert_eq!(t.run("FCALL_RO f2 0"), i(2));
    assert_eq!(t.run("FCALL nope 0"), e("ERR Function not found"));
    assert_eq!(t.run("FCALL f1 x"), e("ERR Bad number of keys provided"));
    assert_eq!(
        t.run("FCALL f1 -1"),
        e("ERR Number of keys can't be negative")
    );
    assert_eq!(
        t.run("FCALL_RO f1 0"),
        e("ERR Can not execute a script with write flag using *_ro command.")
    );
    for (code, want) in [
        ("#!lua name=l2\nreturn string.len('a')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'"),
        ("#!lua name=l2\nredis.register_function('f1', function() end)", "ERR Function f1 already exists"),
        ("#!lua name=l2\nredis.register_function('f1')", "ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        ("#!lua name=l2\nlocal x = 1", "ERR No functions registered"),
        ("lua", "ERR Missing library metadata"),
        ("#!lua", "ERR Invalid library metadata"),
        ("#!lua x=1\n", "ERR Invalid metadata value given: x=1"),
        ("#!py name=q\n", "ERR Engine 'py' not found"),
        ("#!lua name=a-b\n", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
        ("#!lua name=l3\nredis.register_function('b-c', function() end)", "ERR Error registering functions: ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
    ] {
        assert_eq!(load(&mut t, code), e(want), "{code}");
    }
    let l4 = "#!lua name=l4\nredis.register_function('boom', function() error('bad') end)\nredis.register_function{function_name='ro', callback=function(k) return redis.call('set', k[1], 'x') end, flags={'no-writes'}}";
    assert_eq!(load(&mut t, l4), b("l4"));
    assert_eq!(
        t.run("FCALL boom 0"),
        e("ERR user_function:2: bad script: boom, on @user_function:2.")
    );
    assert_eq!(
        t.run("FCALL ro 1 a"),
        e("ERR Write commands are not allowed from read-only scripts. script: ro, on @user_function:3.")
    );
    assert_eq!(t.run("FUNCTION DELETE nope"), e("ERR Library not found"));
    assert_eq!(
        t.run("FUNCTION KILL"),
        e("NOTBUSY No scripts in execution right now.")
    );
    assert_eq!(
        t.run("FUNCTION LIST LIBRARYNAME"),
        e("ERR library name argument was not given")
    );
    let listed = t.run("FUNCTION LIST LIBRARYNAME l1");
    assert_eq!(
        listed,
        arr(vec![arr(vec![
            b("library_name"),
            b("l1"),
            b("engine"),
            b("LUA"),
            b("functions"),
            arr(vec![
                arr(vec![
                    b("name"),
                    b("f1"),
                    b("description"),
                    Frame::Null,
                    b("flags"),
                    arr(vec![])
                ]),
                arr(vec![
                    b("name"),
                    b("f2"),
                    b("description"),
                    b("two"),
                    b("flags"),
                    arr(vec![Frame::Simple("no-writes".into())])
                ]),
            ]),
        ])])
    );
    let dump = match t.run("FUNCTION DUMP") {
        Frame::Bulk(b) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!(t.run("FUNCTION FLUSH"), ok());
    assert_eq!(t.run("FCALL f2 0"), e("ERR Function not found"));
    assert_eq!(t.args(&[b"FUNCTION", b"RESTORE", &dump]), ok());
    assert_eq!(t.run("FCALL f2 0"), i(2));
    assert_eq!(
        t.args(&[b"FUNCTION", b"RESTORE", &dump]),
        e("ERR Library l1 already exists")
    );
    assert_eq!(t.args(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"]), ok());
    assert_eq!(
        t.args(&[b"FUNCTION", b"RESTORE", b"garbage"]),
        e("ERR DUMP payload version or checksum are wrong")
    );
}

#[test]
fn the_run_hook_watches_every_run() {
    let mut t = T::new();
    t.run("CONFIG SET busy-reply-threshold 1");
    let busy = "local i = 0 while i < 3000000 do i = i + 1 end return i";
    for run in 0..3 {
        assert_eq!(eval0(&mut t, busy), i(3_000_000));
        let state = super::state::take(&mut t.server.shared);
        assert!(
            state.live.timed_out.get(),
            "run {run}: the hook saw the run pass the threshold"
        );
        super::state::put(&mut t.server.shared, state);
        // A library load takes the hook for its own timeout; the next run still has its own.
        if run == 0 {
            let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
            t.args(&[b"FUNCTION", b"LOAD", lib.as_bytes()]);
        }
    }
}
