//! The process's limit on open file descriptors, which caps how many connections a server can
//! hold: [`raise_fd_limit`].

use std::io;

/// Raises the soft limit on open file descriptors (`RLIMIT_NOFILE`) as far towards the hard
/// limit as the system allows, and returns `(soft, hard)` as they are afterwards.
///
/// Every connection holds a descriptor, and the usual soft limit (1024) is far below what a
/// server can hold, while raising it up to the hard limit needs no privilege: servers call this
/// at start, as redis-server does, then cap their connections to what the returned soft limit
/// allows (leaving some for listeners, files and the reactor's own). Where the hard limit is
/// above what the kernel grants one process (unlimited, or above Linux's `fs.nr_open` or
/// macOS's `OPEN_MAX`), the soft limit is raised to the highest value the kernel accepts.
///
/// # Errors
///
/// The OS error when the limits cannot be read; failing to raise them is not an error (the
/// returned soft limit says what the process has).
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid `rlimit` it is given and keeps no pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Try the hard limit, then halve the distance from the current soft limit until the kernel
    // accepts: at most one try per bit of `rlim_t`.
    let mut want = lim.rlim_max;
    while want > lim.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the valid `rlimit` it is given and keeps no pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = want;
            break;
        }
        want = lim.rlim_cur + (want - lim.rlim_cur) / 2;
    }
    // `rlim_t` is u64 on 64-bit targets (the conversion is then a no-op), narrower on some
    // 32-bit ones.
    #[allow(clippy::useless_conversion)]
    Ok((u64::from(lim.rlim_cur), u64::from(lim.rlim_max)))
}

#[cfg(test)]
mod tests {
    use super::raise_fd_limit;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one_where_the_kernel_allows() {
        let (soft, hard) = raise_fd_limit().unwrap();
        assert!(soft <= hard, "soft {soft} <= hard {hard}");
        assert!(soft >= 3, "stdin, stdout and stderr fit: {soft}");
        // A finite hard limit is one Linux granted, so the soft one can reach it (u64::MAX is
        // RLIM_INFINITY there).
        if cfg!(target_os = "linux") && hard != u64::MAX {
            assert_eq!(soft, hard);
            // Lowered by one (which disturbs no other test of this process), it is raised again.
            let lowered = libc::rlimit {
                rlim_cur: (hard - 1) as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit reads the valid `rlimit` it is given and keeps no pointer.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
            assert_eq!(raise_fd_limit().unwrap(), (hard, hard));
        }
        assert_eq!(
            raise_fd_limit().unwrap(),
            (soft, hard),
            "a second call changes nothing"
        );
    }
}
