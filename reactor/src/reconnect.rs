//! [`ReconnectingClientFactory`]: a client factory that keeps reconnecting, with capped
//! exponential back-off and jitter (Twisted's `ReconnectingClientFactory`).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use log::info;

use crate::{Address, ClientFactory, Connector, DisconnectReason, Protocol};

/// Wraps a [`ClientFactory`] and reconnects whenever a connection fails or is lost.
///
/// The delay starts at `initial_delay`, is multiplied by `factor` after each failure, is capped
/// at `max_delay`, and is spread by ±`jitter` (a fraction) so that many clients cut off at once
/// do not all come back at the same instant. It resets itself after a connection succeeds (no
/// `resetDelay()` for users to forget). `max_retries` bounds consecutive failures;
/// [`stop_trying`](Self::stop_trying) (or a [`RetryControl`] kept by the caller) ends it all.
///
/// The jitter comes from a small seeded generator, so tests are repeatable
/// ([`with_seed`](Self::with_seed)).
pub struct ReconnectingClientFactory<F> {
    inner: F,
    /// The first delay (default 1 s).
    pub initial_delay: Duration,
    /// The cap (default 3600 s, as Twisted).
    pub max_delay: Duration,
    /// Growth per failure (default e ≈ 2.718, as Twisted).
    pub factor: f64,
    /// Spread as a fraction of the delay (default 0.1196, as Twisted).
    pub jitter: f64,
    /// Give up after this many consecutive failed attempts (`None`: never).
    pub max_retries: Option<u32>,
    retries: u32,
    delay: Duration,
    stopped: Rc<Cell<bool>>,
    rng: u64,
}

/// A handle that stops a [`ReconnectingClientFactory`] after it was given to the reactor.
#[derive(Debug, Clone)]
pub struct RetryControl(Rc<Cell<bool>>);

impl RetryControl {
    /// No more reconnection attempts; the current connection, if any, stays up.
    pub fn stop_trying(&self) {
        self.0.set(true);
    }
}

impl<F> std::fmt::Debug for ReconnectingClientFactory<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingClientFactory")
            .field("retries", &self.retries)
            .field("delay", &self.delay)
            .field("stopped", &self.stopped.get())
            .finish()
    }
}

impl<F: ClientFactory> ReconnectingClientFactory<F> {
    /// Wraps `inner` with Twisted's default back-off parameters.
    pub fn new(inner: F) -> Self {
        ReconnectingClientFactory {
            inner,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
            factor: std::f64::consts::E,
            jitter: 0.119_626_565_582_807_33,
            max_retries: None,
            retries: 0,
            delay: Duration::from_secs(1),
            stopped: Rc::new(Cell::new(false)),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Sets the first delay (and the current one).
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self.delay = delay;
        self
    }

    /// Sets the cap on the delay.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the maximum number of consecutive failed attempts.
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// Sets the jitter fraction (0 for none).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter generator.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = seed | 1;
        self
    }

    /// A handle to stop retrying later.
    pub fn control(&self) -> RetryControl {
        RetryControl(self.stopped.clone())
    }

    /// Stops retrying.
    pub fn stop_trying(&mut self) {
        self.stopped.set(true);
    }

    /// The wrapped factory, which builds the protocols and hears every callback.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The delay the next retry would use before jitter.
    pub fn current_delay(&self) -> Duration {
        self.delay
    }

    /// Consecutive failures so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    fn next_random(&mut self) -> f64 {
        // xorshift64*: plenty for spreading retries.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decides the next attempt, as Twisted's `retry`.
    fn retry(&mut self, connector: &mut Connector) {
        if self.stopped.get() {
            info!("not reconnecting to {}: stopped", connector.address());
            return;
        }
        self.retries += 1;
        if self.max_retries.is_some_and(|max| self.retries > max) {
            info!(
                "giving up on {} after {} retries",
                connector.address(),
                self.retries - 1
            );
            return;
        }
        let grown = self.delay.as_secs_f64() * self.factor;
        let capped = grown.min(self.max_delay.as_secs_f64());
        self.delay = Duration::from_secs_f64(capped.max(0.0));
        let spread = 1.0 + self.jitter * (2.0 * self.next_random() - 1.0);
        let delay =
            Duration::from_secs_f64((capped * spread).clamp(0.0, self.max_delay.as_secs_f64()));
        info!(
            "reconnecting to {} in {:.3} s",
            connector.address(),
            delay.as_secs_f64()
        );
        connector.connect_after(delay);
    }
}

impl<F: ClientFactory> ClientFactory for ReconnectingClientFactory<F> {
    fn build_protocol(&mut self, peer: &Address) -> Box<dyn Protocol> {
        // Connected: the next failure starts the back-off from the beginning.
        self.retries = 0;
        self.delay = self.initial_delay;
        self.inner.build_protocol(peer)
    }

    fn started_connecting(&mut self, connector: &mut Connector) {
        self.inner.started_connecting(connector);
    }

    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        self.inner.client_connection_failed(reason, connector);
        self.retry(connector);
    }

    fn client_connection_lost(&mut self, reason: &DisconnectReason, connector: &mut Connector) {
        self.inner.client_connection_lost(reason, connector);
        self.retry(connector);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectorId, ProtocolResult, Transport};
    use std::time::Instant;

    struct Nothing;
    impl Protocol for Nothing {
        fn data_received(&mut self, _: &[u8], _: &mut dyn Transport) -> ProtocolResult {
            Ok(())
        }
    }
    struct Inner;
    impl ClientFactory for Inner {
        fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
            Box::new(Nothing)
        }
    }

    fn connector() -> Connector {
        Connector::new(
            ConnectorId { index: 0, gen: 1 },
            Address::Tcp("127.0.0.1:1".parse().unwrap()),
            Instant::now(),
        )
    }

    fn fail(f: &mut ReconnectingClientFactory<Inner>) -> Option<Duration> {
        let mut c = connector();
        f.client_connection_failed(&io::ErrorKind::ConnectionRefused.into(), &mut c);
        c.retry()
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let mut f = ReconnectingClientFactory::new(Inner)
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_seed(42);
        let mut expected = 0.1f64;
        for _ in 0..10 {
            let d = fail(&mut f).unwrap().as_secs_f64();
            expected = (expected * std::f64::consts::E).min(2.0);
            assert!(d >= expected * (1.0 - f.jitter) - 1e-9, "{d} vs {expected}");
            assert!(
                d <= (expected * (1.0 + f.jitter)).min(2.0) + 1e-9,
                "{d} vs {expected}"
            );
        }
        assert_eq!(f.current_delay(), Duration::from_secs(2));
    }

    #[test]
    fn resets_after_a_good_connection() {
        let mut f = ReconnectingClientFactory::new(Inner)
            .with_initial_delay(Duration::from_millis(100))
            .with_jitter(0.0);
        fail(&mut f);
        fail(&mut f);
        assert_eq!(f.retries(), 2);
        f.build_protocol(&Address::Unix(None));
        assert_eq!(f.retries(), 0);
        assert_eq!(f.current_delay(), Duration::from_millis(100));
        let d = fail(&mut f).unwrap();
        assert!((d.as_secs_f64() - 0.1 * std::f64::consts::E).abs() < 1e-6);
    }

    #[test]
    fn max_retries_and_stop_trying_end_it() {
        let mut f = ReconnectingClientFactory::new(Inner).with_max_retries(2);
        assert!(fail(&mut f).is_some());
        assert!(fail(&mut f).is_some());
        assert!(fail(&mut f).is_none());

        let mut g = ReconnectingClientFactory::new(Inner);
        let control = g.control();
        assert!(fail(&mut g).is_some());
        control.stop_trying();
        assert!(fail(&mut g).is_none());
        let mut c = connector();
        g.client_connection_lost(&DisconnectReason::Done, &mut c);
        assert!(c.retry().is_none());
    }
}
