//! Event-driven code before any socket: handlers implement a trait with one `execute` method,
//! get registered in an event list, and `run()` fires them all. Nothing here knows *when* or
//! *why* a handler runs; that is decided by the loop, which is the whole idea.
//!
//! Run it: `cargo run --example event_drive` (pure std, no network).

/// A handler: something the framework can call. The framework never needs to know what it does.
trait Event {
    fn execute(&mut self);
}

/// The framework: a list of registered handlers and a loop that fires them.
#[derive(Default)]
struct Framework {
    events: Vec<Box<dyn Event>>,
}

impl Framework {
    fn register(&mut self, event: Box<dyn Event>) {
        self.events.push(event);
    }

    /// Fires every registered handler, in registration order.
    fn run(&mut self) {
        for event in &mut self.events {
            event.execute();
        }
    }
}

/// A handler with no state.
struct Hello;

impl Event for Hello {
    fn execute(&mut self) {
        println!("Hello, event-driven world!");
    }
}

/// A handler with state of its own: it remembers how often it was fired.
struct Counter {
    name: &'static str,
    count: u32,
}

impl Event for Counter {
    fn execute(&mut self) {
        self.count += 1;
        println!("{} fired {} time(s)", self.name, self.count);
    }
}

fn main() {
    let mut framework = Framework::default();
    framework.register(Box::new(Hello));
    framework.register(Box::new(Counter {
        name: "counter",
        count: 0,
    }));

    println!("-- first run --");
    framework.run();
    println!("-- second run: the counter kept its state --");
    framework.run();
}

// Where this goes next: Spindle's `Reactor` is this same loop. A `Protocol` is the handler (with
// several methods instead of one: `connection_made`, `data_received`, `connection_lost`,
// `timer_fired`), the reactor holds the registered handlers, and `run()` fires them. The one
// difference is that it does not fire them all: it asks the operating system (epoll, through
// mio) which sockets are readable or writable and which timers are due, and fires only the
// handlers those events belong to. Continue with `cargo run --example echo_server`.
