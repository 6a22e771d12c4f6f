//! Routing speed of the exchange rules: a routing key against 10,000 topic bindings (mixed
//! `*`/`#` patterns) and against 10,000 direct bindings. Prints routes per second.
//!
//! `cargo bench -p spindle-broker --bench routing`
//!
//! The rules are crate-private, so their files are compiled into this program as they are
//! (they depend on nothing of the broker's but `exchange/mod.rs`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use spindle_protocols::amqp::{FieldTable, ShortStr};

// Cargo compiles benches with `--cfg test` but without the test harness: the rules' unit-test
// modules are compiled without their tests, so their helpers and imports go unused here.
#[allow(dead_code, unused_imports)]
#[path = "../src/core/exchange/mod.rs"]
mod exchange;

use exchange::{Destination, ExchangeType, Route};

fn name(text: &str) -> ShortStr {
    ShortStr::try_from(text).expect("a short name")
}

/// Binds queue `q{n}` under each of `keys` in a new exchange of type `kind`; prints how long
/// binding took.
fn table(kind: ExchangeType, keys: &[String]) -> Box<dyn Route> {
    let mut route = kind.new_route();
    let none = FieldTable::new();
    let started = Instant::now();
    for (n, key) in keys.iter().enumerate() {
        route.bind(
            &Destination::Queue(name(&format!("q{n}"))),
            &name(key),
            &none,
        );
    }
    let took = started.elapsed();
    println!(
        "  bound {} {} bindings in {:.1} ms ({:.0} binds/s)",
        route.len(),
        kind.name(),
        took.as_secs_f64() * 1e3,
        route.len() as f64 / took.as_secs_f64()
    );
    route
}

/// Routes `keys` round-robin for about a second; prints routes per second and the
/// destinations per route.
fn measure(label: &str, route: &dyn Route, keys: &[&str]) {
    let mut out = Vec::new();
    let (mut routes, mut found) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for key in keys {
            out.clear();
            route.route(black_box(key.as_bytes()), None, &mut out);
            found += out.len() as u64;
            routes += 1;
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "  {label}: {:.2} M routes/s ({:.0} ns/route, {:.2} destinations/route)",
        routes as f64 / took / 1e6,
        took * 1e9 / routes as f64,
        found as f64 / routes as f64
    );
}

fn main() {
    println!("topic, 10,000 bindings: tenant{{n}}.#.event, app{{n}}.#, kern{{n}}.*, *.critical{{n}}, logs.{{n}}.info");
    let keys: Vec<String> = (0..10_000)
        .map(|n| match n % 5 {
            0 => format!("tenant{n}.#.event"),
            1 => format!("app{n}.#"),
            2 => format!("kern{n}.*"),
            3 => format!("*.critical{n}"),
            _ => format!("logs.{n}.info"),
        })
        .collect();
    let topic = table(ExchangeType::Topic, &keys);
    measure(
        "matching keys",
        topic.as_ref(),
        &[
            "tenant500.eu.db.event",
            "tenant9995.event",
            "app501.web.request.get",
            "kern502.critical",
            "host.critical503",
            "logs.504.info",
        ],
    );
    measure(
        "keys matching nothing",
        topic.as_ref(),
        &[
            "tenant500.eu.db.events",
            "nomatch.at.all",
            "logs.x.info",
            "a",
        ],
    );

    println!("topic, 10,000 bindings #.event{{n}} (each key tried at every word)");
    let keys: Vec<String> = (0..10_000).map(|n| format!("#.event{n}")).collect();
    let topic = table(ExchangeType::Topic, &keys);
    measure(
        "5-word keys",
        topic.as_ref(),
        &["a.b.c.d.event77", "a.b.c.d.e", "event9999.x.y.z.event1"],
    );

    println!("topic, 1,000 bindings #.*.#.{{n}}.#  (many # nodes)");
    let keys: Vec<String> = (0..1_000).map(|n| format!("#.*.#.{n}.#")).collect();
    let topic = table(ExchangeType::Topic, &keys);
    measure(
        "10-word keys",
        topic.as_ref(),
        &["1.2.3.4.5.6.7.8.9.10", "a.b.c.d.e.f.g.h.i.j"],
    );

    println!("direct, 10,000 bindings key{{n}}");
    let keys: Vec<String> = (0..10_000).map(|n| format!("key{n}")).collect();
    let direct = table(ExchangeType::Direct, &keys);
    measure(
        "matching keys",
        direct.as_ref(),
        &["key1", "key5000", "key9999", "key42"],
    );
    measure(
        "keys matching nothing",
        direct.as_ref(),
        &["key10000", "nokey"],
    );
}
