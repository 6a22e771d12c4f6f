//! The other reference point of the echo benchmark: an idiomatic tokio echo server, one task
//! per connection on a two-worker multi-threaded runtime, reading into a 4 KiB buffer and
//! writing each chunk back with `write_all`. No Spindle code.
//!
//! Run it: `cargo run --example tokio_echo [PORT]` (default 9001), then `nc 127.0.0.1 9001` (or
//! `spindle echo-client --port 9001`, or `scripts/tcp-client 127.0.0.1 9001`).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| format!("bad port {arg:?}: {e}"))?,
        None => 9001,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await?;
    println!("tokio echo on {addr}");

    loop {
        match listener.accept().await {
            Ok((socket, _peer)) => {
                tokio::spawn(echo(socket));
            }
            // EMFILE and the like concern one connection, not the server.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

/// Echoes until the peer closes or an error occurs.
async fn echo(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Some(data) = buf.get(..n) else { return };
        if socket.write_all(data).await.is_err() {
            return;
        }
    }
}
