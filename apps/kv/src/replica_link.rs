//! A replica's connection to its master, as redis-server's replica side speaks it: the
//! handshake (PING, AUTH with `masterauth`, REPLCONF listening-port and capa, PSYNC with the
//! replication id and offset it has), then either +FULLRESYNC and a snapshot (`$len` or
//! `$EOF:` delimited) that replaces the data, or +CONTINUE; then the master's stream of
//! commands, run as an obeyed client, counted in the replication offset, relayed verbatim to
//! this server's own backlog, and answered only for REPLCONF GETACK. Reconnects a second
//! after a failure while the server still follows this master.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use spindle_protocols::resp::{RequestDecoder, RequestLimits};
use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Transport,
};

use crate::client::Client;
use crate::engine::Engine;
use crate::propagate::encode;
use crate::repl::{LinkState, Role};

/// Where the handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pong,
    Auth,
    Port,
    Capa,
    Psync,
    /// Waiting for the snapshot's `$` line (newlines before it are the master's keepalives).
    RdbHeader,
    /// Reading `n` snapshot bytes.
    Rdb(usize),
    /// Reading a snapshot that ends with this 40-byte mark.
    RdbEof([u8; 40]),
    Stream,
}

/// Builds the link's protocol on connect; reconnects while the server follows this master.
#[derive(Debug)]
pub(crate) struct LinkFactory {
    /// The store.
    pub(crate) server: Rc<RefCell<Engine>>,
    /// The master's host and port, as REPLICAOF named them.
    pub(crate) host: String,
    /// Its port.
    pub(crate) port: u16,
    /// The port this server listens on (REPLCONF listening-port).
    pub(crate) listening_port: u16,
}

impl LinkFactory {
    /// Whether the server still follows this factory's master.
    fn still_wanted(&self) -> bool {
        match &self.server.borrow().shared.repl.role {
            Role::Replica(link) => link.host == self.host && link.port == self.port,
            Role::Master => false,
        }
    }

    fn retry(&mut self, connector: &mut Connector) {
        if self.still_wanted() {
            if let Role::Replica(link) = &mut self.server.borrow_mut().shared.repl.role {
                link.state = LinkState::Connect;
                link.conn = None;
            }
            connector.connect_after(Duration::from_secs(1));
        }
    }
}

impl ClientFactory for LinkFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        let client = {
            let mut engine = self.server.borrow_mut();
            let mut c = engine.new_client(format!("{}:{}", self.host, self.port));
            c.authenticated = true;
            c.obey = true;
            c
        };
        Box::new(MasterLinkProtocol {
            server: self.server.clone(),
            client,
            step: Step::Pong,
            input: BytesMut::new(),
            rdb: BytesMut::new(),
            decoder: RequestDecoder::new(RequestLimits {
                max_bulk_len: usize::MAX / 2,
                ..RequestLimits::default()
            }),
            listening_port: self.listening_port,
            offer: None,
            sink: BytesMut::new(),
        })
    }

    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        log::warn!(
            "Error condition on socket for SYNC: {reason} (master {}:{})",
            self.host,
            self.port
        );
        self.retry(connector);
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        self.retry(connector);
    }
}

/// The link's protocol.
#[derive(Debug)]
struct MasterLinkProtocol {
    server: Rc<RefCell<Engine>>,
    /// The master's commands run as this client.
    client: Client,
    step: Step,
    input: BytesMut,
    rdb: BytesMut,
    decoder: RequestDecoder,
    listening_port: u16,
    /// The master's replication id and offset from +FULLRESYNC.
    offer: Option<(String, u64)>,
    /// Replies to the master's commands, dropped.
    sink: BytesMut,
}

impl MasterLinkProtocol {
    fn send(tx: &mut dyn Transport, words: &[&[u8]]) {
        let mut out = BytesMut::new();
        encode(&mut out, words);
        tx.write(&out);
    }

    /// Takes one `\r\n`-ended line off the input.
    fn line(&mut self) -> Option<String> {
        let end = self.input.iter().position(|&b| b == b'\n')?;
        let line = self.input.split_to(end + 1);
        Some(
            String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        )
    }

    fn fail(&mut self, why: &str, tx: &mut dyn Transport) {
        log::warn!("Replication with the master failed: {why}");
        tx.lose_connection();
    }

    /// Runs the handshake and the stream as far as the input allows.
    fn advance(&mut self, tx: &mut dyn Transport) {
        loop {
            match self.step {
                Step::Pong | Step::Auth | Step::Port | Step::Capa | Step::Psync => {
                    let Some(line) = self.line() else { return };
                    if line.is_empty() {
                        // A master preparing the snapshot sends newlines to keep the link.
                        continue;
                    }
                    if !self.handshake(&line, tx) {
                        return;
                    }
                }
                Step::RdbHeader => {
                    while self.input.first() == Some(&b'\n') {
                        self.input.advance(1);
                    }
                    let Some(line) = self.line() else { return };
                    if let Some(mark) = line.strip_prefix("$EOF:") {
                        let mut m = [0u8; 40];
                        if mark.len() != 40 {
                            return self.fail("bad EOF mark in the snapshot header", tx);
                        }
                        m.copy_from_slice(mark.as_bytes());
                        self.step = Step::RdbEof(m);
                    } else if let Some(n) = line.strip_prefix('$').and_then(|n| n.parse().ok()) {
                        log::info!("MASTER <-> REPLICA sync: receiving {n} bytes from master");
                        self.step = Step::Rdb(n);
                    } else {
                        return self.fail(&format!("bad snapshot header {line:?}"), tx);
                    }
                }
                Step::Rdb(n) => {
                    let take = (n - self.rdb.len()).min(self.input.len());
                    self.rdb.extend_from_slice(&self.input.split_to(take));
                    if self.rdb.len() < n {
                        return;
                    }
                    let rdb = std::mem::take(&mut self.rdb).freeze();
                    if !self.load(&rdb, tx) {
                        return;
                    }
                }
                Step::RdbEof(mark) => {
                    self.rdb.extend_from_slice(&self.input.split());
                    if !self.rdb.ends_with(&mark) {
                        return;
                    }
                    let mut rdb = std::mem::take(&mut self.rdb);
                    rdb.truncate(rdb.len() - 40);
                    if !self.load(&rdb.freeze(), tx) {
                        return;
                    }
                }
                Step::Stream => return self.stream(tx),
            }
        }
    }

    /// One handshake reply; false when the link stops here.
    fn handshake(&mut self, line: &str, tx: &mut dyn Transport) -> bool {
        match self.step {
            Step::Pong => {
                // -NOAUTH is expected when the master wants a password.
                if line.starts_with('-') && !line.starts_with("-NOAUTH") {
                    self.fail(&format!("PING: {line}"), tx);
                    return false;
                }
                let (user, pass) = {
                    let engine = self.server.borrow();
                    let config = &engine.shared.config;
                    (
                        config.get("masteruser").unwrap_or("").to_string(),
                        config.get("masterauth").unwrap_or("").to_string(),
                    )
                };
                if pass.is_empty() {
                    self.send_port(tx);
                } else {
                    if user.is_empty() {
                        Self::send(tx, &[b"AUTH", pass.as_bytes()]);
                    } else {
                        Self::send(tx, &[b"AUTH", user.as_bytes(), pass.as_bytes()]);
                    }
                    self.step = Step::Auth;
                }
            }
            Step::Auth => {
                if line.starts_with('-') {
                    self.fail(&format!("Unable to AUTH to MASTER: {line}"), tx);
                    return false;
                }
                self.send_port(tx);
            }
            Step::Port => {
                // An error here is only logged, as Redis does.
                if line.starts_with('-') {
                    log::info!(
                        "(Non critical) Master does not understand REPLCONF listening-port: {line}"
                    );
                }
                Self::send(tx, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]);
                self.step = Step::Capa;
            }
            Step::Capa => {
                let (replid, offset, failover) = {
                    let engine = self.server.borrow();
                    let repl = &engine.shared.repl;
                    let failover = repl.failover.as_ref().is_some_and(|f| f.in_progress);
                    // A replica that has followed a stream asks to continue it.
                    let (replid, offset) = match repl.backlog {
                        Some(_) => (repl.replid.clone(), (repl.offset() + 1).to_string()),
                        None => ("?".to_string(), "-1".to_string()),
                    };
                    (replid, offset, failover)
                };
                log::info!("Trying a partial resynchronization (request {replid}:{offset}).");
                if failover {
                    // The old master hands over: the replica becomes the master it follows.
                    Self::send(
                        tx,
                        &[b"PSYNC", replid.as_bytes(), offset.as_bytes(), b"FAILOVER"],
                    );
                } else {
                    Self::send(tx, &[b"PSYNC", replid.as_bytes(), offset.as_bytes()]);
                }
                self.step = Step::Psync;
            }
            Step::Psync => {
                let words: Vec<&str> = line.split(' ').collect();
                let accepted = matches!(words.first(), Some(&"+FULLRESYNC" | &"+CONTINUE"));
                // A failover ends with the target's answer: over if it took the stream, given
                // up (this server a master again) if it refused.
                let given_up = {
                    let mut engine = self.server.borrow_mut();
                    let engine = &mut *engine;
                    let failing_over = engine
                        .shared
                        .repl
                        .failover
                        .as_ref()
                        .is_some_and(|f| f.in_progress);
                    if failing_over && accepted {
                        engine.shared.repl.failover = None;
                    } else if failing_over {
                        engine.shared.repl.abort_failover(
                            "Failover target rejected psync request",
                            &mut engine.db.propagation,
                        );
                    }
                    failing_over && !accepted
                };
                if given_up {
                    self.fail(&format!("Failover target rejected PSYNC: {line}"), tx);
                    return false;
                }
                match words.as_slice() {
                    ["+FULLRESYNC", id, offset] => {
                        // Offsets are Redis's `long long`: one past it, or a negative one, would
                        // leave the stream's offset arithmetic no room.
                        let Some(offset) = offset
                            .parse::<i64>()
                            .ok()
                            .and_then(|o| u64::try_from(o).ok())
                        else {
                            self.fail(
                                &format!("Master replied with a bad +FULLRESYNC offset: {line}"),
                                tx,
                            );
                            return false;
                        };
                        log::info!("Full resync from master: {id}:{offset}");
                        self.offer = Some((id.to_string(), offset));
                        self.set_state(LinkState::Sync);
                        self.step = Step::RdbHeader;
                    }
                    ["+CONTINUE", rest @ ..] => {
                        log::info!("Successful partial resynchronization with master.");
                        if let [id] = rest {
                            let mut engine = self.server.borrow_mut();
                            let repl = &mut engine.shared.repl;
                            if *id != repl.replid {
                                repl.replid2 = std::mem::replace(&mut repl.replid, id.to_string());
                                repl.second_offset = repl.offset_i64().saturating_add(1);
                            }
                        }
                        self.set_state(LinkState::Connected);
                        self.step = Step::Stream;
                    }
                    _ => {
                        self.fail(
                            &format!("Unexpected reply to PSYNC from master: {line}"),
                            tx,
                        );
                        return false;
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn send_port(&mut self, tx: &mut dyn Transport) {
        let port = self.listening_port.to_string();
        Self::send(tx, &[b"REPLCONF", b"listening-port", port.as_bytes()]);
        self.step = Step::Port;
    }

    fn set_state(&mut self, state: LinkState) {
        let mut engine = self.server.borrow_mut();
        let now = engine.shared.unix_ms(std::time::Instant::now());
        if let Role::Replica(link) = &mut engine.shared.repl.role {
            link.state = state;
            link.last_io_ms = now;
        }
    }

    /// Replaces the data with the master's snapshot; false on a bad one.
    fn load(&mut self, rdb: &Bytes, tx: &mut dyn Transport) -> bool {
        let started = std::time::Instant::now();
        let mut engine = self.server.borrow_mut();
        let now_ms = engine.shared.unix_ms(std::time::Instant::now());
        let databases = engine.db.spaces.len();
        let mut fresh = crate::db::Db::new(databases);
        if let Err(e) = crate::rdb::decode::decode_into(&mut fresh, rdb, now_ms) {
            drop(engine);
            self.fail(
                &format!("Failed trying to load the MASTER synchronization DB: {e}"),
                tx,
            );
            return false;
        }
        // The AOF holds the data being replaced: it is closed now and started again on the
        // new data with a rewrite (Redis's stopAppendOnly and restartAOFAfterSYNC), or a
        // restart would replay the old data under the new stream.
        let installed = {
            let engine = &mut *engine;
            let aof_on = engine.shared.persist.aof.is_some();
            if aof_on {
                engine.shared.persist.stop_aof(&mut engine.db);
            }
            fresh.propagation = std::mem::take(&mut engine.db.propagation);
            fresh.stats = std::mem::take(&mut engine.db.stats);
            engine.db = fresh;
            let installed = engine.install_loaded_libraries();
            let shared = &mut engine.shared;
            if aof_on {
                if let Err(e) = shared
                    .persist
                    .start_aof(&mut engine.db, &shared.config, now_ms)
                {
                    log::warn!(
                        "Failed enabling the AOF after successful master synchronization: {e}"
                    );
                }
            }
            installed
        };
        if let Err(e) = installed {
            drop(engine);
            self.fail(
                &format!("Failed trying to load the MASTER synchronization DB: {e}"),
                tx,
            );
            return false;
        }
        let size = engine
            .shared
            .config
            .get("repl-backlog-size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1 << 20);
        let (id, offset) = self.offer.take().unwrap_or_default();
        let repl = &mut engine.shared.repl;
        repl.replid = id;
        repl.replid2 = "0".repeat(40);
        repl.second_offset = -1;
        repl.backlog = Some(crate::repl::backlog::Backlog::new(size, offset));
        let keys: usize = engine.db.spaces.iter().map(|s| s.len()).sum();
        log::info!(
            "MASTER <-> REPLICA sync: Finished with success ({keys} keys, {} bytes, {:.3} s)",
            rdb.len(),
            started.elapsed().as_secs_f64()
        );
        drop(engine);
        self.client.db = 0;
        self.set_state(LinkState::Connected);
        self.step = Step::Stream;
        true
    }

    /// Runs the master's commands, each counted in the offset and relayed to our backlog.
    fn stream(&mut self, tx: &mut dyn Transport) {
        if self.input.is_empty() {
            return;
        }
        let now = tx.now();
        let mut engine = self.server.borrow_mut();
        let now_ms = engine.shared.unix_ms(now);
        if let Role::Replica(link) = &mut engine.shared.repl.role {
            link.last_io_ms = now_ms;
        }
        // One copy of the input per read, from which each command's exact bytes are sliced.
        let snapshot = self.input.clone().freeze();
        let mut pos = 0;
        loop {
            let before = self.input.len();
            match self.decoder.decode(&mut self.input) {
                Ok(Some(args)) => {
                    let used = before - self.input.len();
                    let raw = snapshot.slice(pos..pos + used);
                    pos += used;
                    let word =
                        |i: usize, w: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w));
                    let getack = word(0, b"replconf") && word(1, b"getack");
                    engine.execute(&mut self.client, &args, &mut self.sink, now, None);
                    self.sink.clear();
                    engine.shared.repl.append(&raw);
                    relay(&mut engine, &raw, tx);
                    if getack {
                        // The offset before this GETACK, as Redis answers it.
                        let offset = (engine.shared.repl.offset() - used as u64).to_string();
                        Self::send(tx, &[b"REPLCONF", b"ACK", offset.as_bytes()]);
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    drop(engine);
                    return self.fail(&format!("protocol error from master: {e}"), tx);
                }
            }
        }
    }
}

/// Relays master stream bytes verbatim to this replica's own replicas.
fn relay(engine: &mut Engine, raw: &[u8], tx: &mut dyn Transport) {
    for r in &engine.shared.repl.replicas {
        tx.write_to(r.conn, raw);
    }
}

impl Protocol for MasterLinkProtocol {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        log::info!("MASTER <-> REPLICA sync started");
        {
            let mut engine = self.server.borrow_mut();
            if let Role::Replica(link) = &mut engine.shared.repl.role {
                link.state = LinkState::Connecting;
                link.conn = Some(tx.id());
            }
            engine.shared.repl.link_conn = Some(tx.id());
        }
        Self::send(tx, &[b"PING"]);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.input.extend_from_slice(data);
        self.server.borrow_mut().db.stats.net_repl_input_bytes += data.len() as u64;
        self.advance(tx);
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, _tx: &mut dyn Transport) {
        let mut engine = self.server.borrow_mut();
        engine.shared.clients.remove(&self.client.id);
        engine.shared.repl.link_conn = None;
        if let Role::Replica(link) = &mut engine.shared.repl.role {
            log::info!("Connection with master lost.");
            link.state = LinkState::Connect;
            link.conn = None;
        }
    }
}
