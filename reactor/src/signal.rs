//! SIGINT and SIGTERM as reactor events, with the self-pipe trick.
//!
//! A signal handler may only do async-signal-safe things, so ours writes one byte to a pipe
//! whose other end is registered with the reactor's `Poll`; the reactor reads it like any
//! socket and stops cleanly. Each reactor that installs handlers takes one slot of a fixed
//! table (a pool runs one reactor per thread); the handler writes to every slot in use.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use mio::unix::pipe;

const SLOTS: usize = 64;

static PIPES: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

extern "C" fn on_signal(_signum: libc::c_int) {
    for slot in &PIPES {
        let fd = slot.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = 1u8;
            // SAFETY: write(2) is async-signal-safe; `fd` is a pipe owned by a live SignalPipe
            // (slots are cleared before the pipe is closed), and the buffer is one valid byte.
            unsafe {
                libc::write(fd, std::ptr::from_ref(&byte).cast(), 1);
            }
        }
    }
}

/// The read end of a signal pipe, registered with a reactor's `Poll`.
#[derive(Debug)]
pub(crate) struct SignalPipe {
    pub(crate) receiver: pipe::Receiver,
    _sender: pipe::Sender,
    slot: usize,
}

impl SignalPipe {
    /// Creates the pipe and installs handlers for SIGINT and SIGTERM.
    pub(crate) fn install() -> io::Result<SignalPipe> {
        let (sender, receiver) = pipe::new()?;
        let fd = sender.as_raw_fd();
        let slot = PIPES
            .iter()
            .position(|s| {
                s.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
            .ok_or_else(|| io::Error::other("too many reactors with signal handlers"))?;
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: `on_signal` only performs async-signal-safe operations (atomic loads, write(2)).
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
        Ok(SignalPipe {
            receiver,
            _sender: sender,
            slot,
        })
    }

    /// Empties the pipe; true if a signal arrived.
    pub(crate) fn drain(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let mut got = false;
        loop {
            match self.receiver.read(&mut buf) {
                Ok(0) => return got,
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return got,
            }
        }
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        if let Some(slot) = PIPES.get(self.slot) {
            slot.store(-1, Ordering::SeqCst);
        }
    }
}
