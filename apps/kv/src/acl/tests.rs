//! The rule parser, descriptions and checks, alone and through the engine. Expected texts
//! were taken from redis-server 7.0.15 by redis-cli.

use super::*;
use crate::testkit::{b, e, i, ok, Frame, T};

fn user(ops: &[&str]) -> User {
    let mut acl = Acl::new();
    let ops: Vec<&[u8]> = ops.iter().map(|s| s.as_bytes()).collect();
    acl.set_user(b"u", &ops).unwrap();
    acl.user(b"u").unwrap().clone()
}

fn allowed(u: &User, line: &str) -> Result<(), (Denied, usize)> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    let id = catalog::resolve(&args).unwrap();
    u.check(id, &args)
}

#[test]
fn sha256_matches_known_digests() {
    assert_eq!(
        hash_password(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hash_password(b"pw"),
        "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
    );
    let long = vec![b'a'; 1000];
    assert_eq!(
        hash_password(&long),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
}

#[test]
fn new_and_default_users_describe_as_redis() {
    let acl = Acl::new();
    assert_eq!(acl.list(), ["user default on nopass ~* &* +@all"]);
    assert_eq!(user(&[]).describe(), "off resetchannels -@all");
    assert_eq!(
        user(&["reset"]).describe(),
        "off sanitize-payload resetchannels -@all"
    );
}

#[test]
fn categories_are_fitted_as_redis_describes_them() {
    let u = user(&[
        "on",
        "+@all",
        "-@dangerous",
        "+info",
        "-flushdb",
        "allkeys",
        "&ch*",
    ]);
    let d = u.describe();
    assert!(
        d.starts_with("on ~* resetchannels &ch* +@all -@admin "),
        "{d}"
    );
    let mut singles: Vec<&str> = d.split(' ').skip(6).collect();
    singles.sort_unstable();
    assert_eq!(
        singles,
        [
            "-flushall",
            "-flushdb",
            "-keys",
            "-migrate",
            "-restore",
            "-restore-asking",
            "-sort",
            "-sort_ro",
            "-swapdb"
        ]
    );
    assert_eq!(
        user(&["+@read", "-@read"]).describe(),
        "off resetchannels -@all"
    );
    assert_eq!(
        user(&["+get", "+set"]).describe(),
        "off resetchannels -@all +get +set"
    );
}

#[test]
fn first_args_and_subcommands() {
    let u = user(&["+select|0", "+config|get", "+client|id"]);
    assert_eq!(
        u.describe(),
        "off resetchannels -@all +client|id +config|get +select|0"
    );
    assert!(allowed(&u, "select 0").is_ok());
    assert_eq!(allowed(&u, "select 1"), Err((Denied::Command, 0)));
    assert!(allowed(&u, "config get x").is_ok());
    assert!(allowed(&u, "config set x y").is_err());
    // +select again clears the first arguments.
    let u = user(&["+select|0", "+select"]);
    assert_eq!(u.describe(), "off resetchannels -@all +select");
}

#[test]
fn rule_errors_are_redis_errnos() {
    let mut acl = Acl::new();
    let mut err = |ops: &[&str]| {
        let ops: Vec<&[u8]> = ops.iter().map(|s| s.as_bytes()).collect();
        acl.set_user(b"x", &ops).unwrap_err()
    };
    assert_eq!(
        err(&["+nosuch"]),
        "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
    );
    assert_eq!(
        err(&["+config|get|x"]),
        "Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported"
    );
    assert_eq!(
        err(&["+get|"]),
        "Error in ACL SETUSER modifier '+get|': Syntax error"
    );
    assert_eq!(
        err(&["bogus"]),
        "Error in ACL SETUSER modifier 'bogus': Syntax error"
    );
    assert!(err(&["~*", "~x"]).contains("'allkeys' flag"));
    assert!(err(&["&*", "&x"]).contains("'allchannels' flag"));
    assert!(err(&["<nopw"]).contains("does not exist"));
    assert!(err(&["#abc"]).contains("exactly 64 characters"));
    assert_eq!(
        err(&["(+get", "~x"]),
        "Unmatched parenthesis in acl selector starting at '(+get'."
    );
    // Nothing was applied.
    assert!(acl.user(b"x").is_none());
}

#[test]
fn key_permissions_follow_key_specs() {
    let u = user(&["on", "+@all", "%R~r*", "%W~w*", "~k*"]);
    assert!(allowed(&u, "get r1").is_ok());
    assert_eq!(allowed(&u, "set r1 v"), Err((Denied::Key, 1)));
    assert!(allowed(&u, "set w1 v").is_ok());
    assert_eq!(allowed(&u, "set w1 v GET"), Err((Denied::Key, 1)));
    assert!(allowed(&u, "get k1").is_ok());
    assert!(allowed(&u, "copy r1 w1").is_ok());
    assert_eq!(allowed(&u, "copy w1 r1"), Err((Denied::Key, 1)));
    assert_eq!(allowed(&u, "mset k1 v w1 v r1 v"), Err((Denied::Key, 5)));
    assert!(allowed(&u, "sort k1 by x store w2").is_ok());
    assert_eq!(allowed(&u, "sort r1 store r2"), Err((Denied::Key, 3)));
    assert!(allowed(&u, "zunionstore w1 2 r1 k2").is_ok());
    assert_eq!(allowed(&u, "zunionstore w1 2 r1 x"), Err((Denied::Key, 4)));
    assert!(allowed(&u, "bitfield r1 GET u8 0").is_ok());
    assert_eq!(allowed(&u, "bitfield r1 SET u8 0 1"), Err((Denied::Key, 1)));
    assert!(allowed(&u, "xread STREAMS r1 0").is_ok());
}

#[test]
fn channels_and_selectors() {
    let u = user(&["on", "+@all", "&news.*", "(+get ~x*)"]);
    assert!(allowed(&u, "publish news.a m").is_ok());
    assert_eq!(allowed(&u, "publish other m"), Err((Denied::Channel, 1)));
    assert!(allowed(&u, "psubscribe news.*").is_ok());
    assert_eq!(allowed(&u, "psubscribe news.a*"), Err((Denied::Channel, 1)));
    // The root selector has no keys; the (+get ~x*) selector allows GET of x*.
    assert!(allowed(&u, "get x1").is_ok());
    assert_eq!(allowed(&u, "get y1"), Err((Denied::Key, 1)));
    assert_eq!(allowed(&u, "set x1 v"), Err((Denied::Key, 1)));
    assert!(u.describe().ends_with(" (~x* resetchannels -@all +get)"));
}

#[test]
fn acl_file_text_round_trips() {
    let mut acl = Acl::new();
    let ops: [&[u8]; 5] = [b"on", b">pw", b"~k*", b"+@read", b"(+set %W~w*)"];
    acl.set_user(b"u", &ops).unwrap();
    let text = acl.file_text();
    let mut other = Acl::new();
    let old = other.load_text("users.acl", text.as_bytes()).unwrap();
    assert!(old.is_empty());
    assert_eq!(other.list(), acl.list());
    let err = other
        .load_text("users.acl", b"user a on +nosuch\nuser a on\nbogus\n")
        .unwrap_err();
    assert_eq!(
        err,
        "users.acl:1: Error in applying operation '+nosuch': Unknown command or category name \
         in ACL. WARNING: Duplicate user 'a' found on line 2. users.acl:3 should start with \
         user keyword followed by the username. WARNING: ACL errors detected, no change to the \
         previously active ACL rules was performed"
    );
    assert_eq!(other.list(), acl.list());
}

#[test]
fn engine_checks_auth_and_logs() {
    let mut t = T::new();
    t.check(&[
        ("ACL SETUSER u on >p ~k* +get +acl|whoami", ok()),
        (
            "AUTH u nope",
            e("WRONGPASS invalid username-password pair or user is disabled."),
        ),
        ("AUTH u p", ok()),
        ("ACL WHOAMI", b("u")),
        ("GET k", Frame::Null),
        (
            "GET x",
            e("NOPERM this user has no permissions to access one of the keys used as arguments"),
        ),
        (
            "SET k v",
            e("NOPERM this user has no permissions to run the 'set' command"),
        ),
        (
            "SET k v",
            e("NOPERM this user has no permissions to run the 'set' command"),
        ),
    ]);
    let log = &t.server.shared.acl.log;
    assert_eq!(log.len(), 3);
    let newest = log.front().unwrap();
    assert_eq!(
        (newest.count, newest.reason, &newest.object[..]),
        (2, Denied::Command, &b"set"[..])
    );
    assert_eq!(log.back().unwrap().reason, Denied::Auth);
    // In MULTI the refusal is queued as an error; rules changed before EXEC get EXEC's words.
    t.run("AUTH default x");
    t.check(&[
        ("ACL SETUSER v on nopass ~* +multi +exec +get", ok()),
        ("AUTH v x", ok()),
        ("MULTI", Frame::Simple("OK".into())),
        ("GET a", Frame::Simple("QUEUED".into())),
    ]);
    t.server.shared.acl.set_user(b"v", &[b"-get"]).unwrap();
    match t.run("EXEC") {
        Frame::Array(items) => assert_eq!(
            items,
            [e(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated \
                and the EXEC call. This command is no longer allowed for the following reason: \
                no permission to execute the command or subcommand"
            )]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn requirepass_is_the_default_users_password() {
    let mut t = T::new();
    t.check(&[
        ("CONFIG SET requirepass s3", ok()),
        (
            "ACL LIST",
            Frame::Array(vec![b(&format!(
                "user default on #{} ~* &* +@all",
                hash_password(b"s3")
            ))]),
        ),
        (
            "ACL DELUSER default",
            e("ERR The 'default' user cannot be removed"),
        ),
        ("ACL DELUSER nobody", i(0)),
    ]);
    let mut other = t.other(1);
    assert_eq!(
        t.run_as(&mut other, "GET k"),
        e("NOAUTH Authentication required.")
    );
    assert_eq!(t.run_as(&mut other, "AUTH s3"), ok());
    assert_eq!(t.run_as(&mut other, "GET k"), Frame::Null);
}

#[test]
fn acl_commands_are_not_propagated() {
    let mut t = T::new();
    t.server.db.propagation.aof = Some(Default::default());
    t.run("ACL SETUSER u on >p +@all ~*");
    t.run("ACL DELUSER u");
    t.run("SET k v");
    let buf = &t.server.db.propagation.aof.as_ref().unwrap().buf;
    let text = String::from_utf8_lossy(buf);
    assert!(!text.to_ascii_lowercase().contains("setuser"), "{text}");
    assert!(text.contains("SET") || text.contains("set"), "{text}");
}
