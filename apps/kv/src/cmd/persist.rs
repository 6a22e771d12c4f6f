//! Persistence commands: SAVE LASTSAVE BGSAVE BGREWRITEAOF SHUTDOWN, and what DEBUG RELOAD and
//! CONFIG SET appendonly do, as Redis 7.0 (`rdb.c`, `aof.c`, `db.c`'s shutdownCommand,
//! `debug.c`). The background work itself — the forked child, the cron that reaps it — is
//! [`persist`](crate::persist).

use bytes::Bytes;

use super::args::is;
use super::ctx::flags::{ADMIN, FAST, NO_MULTI};
use super::ctx::{CmdResult, Ctx};
use super::scripting::{install_libraries, Restore};
use super::{cmd, Command};
use crate::error::CmdError;
use crate::persist::{exit_process, ChildKind};

/// This family's rows of the command table (arity and flags as Redis 7.0's COMMAND reports
/// them).
pub(crate) static COMMANDS: &[Command] = &[
    cmd("save", 1, ADMIN | NO_MULTI, (0, 0, 0), save),
    cmd("lastsave", 1, FAST, (0, 0, 0), lastsave),
    cmd("bgsave", -1, ADMIN, (0, 0, 0), bgsave),
    cmd("bgrewriteaof", 1, ADMIN, (0, 0, 0), bgrewriteaof),
    cmd("shutdown", -1, ADMIN | NO_MULTI, (0, 0, 0), shutdown),
];

/// Redis's bare error reply (`shared.err`), for a save that failed (the log says why).
fn bare_err() -> CmdError {
    CmdError::Msg("ERR".to_string())
}

/// `SAVE`: the dump file written now, blocking the server meanwhile, as redis-server's SAVE.
pub(crate) fn save(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let persist = &mut ctx.shared.persist;
    if persist.child_kind() == Some(ChildKind::Rdb) {
        return Err(CmdError::err("Background save already in progress"));
    }
    persist
        .save(ctx.db, &ctx.shared.config, ctx.now)
        .map_err(|_| bare_err())?;
    ctx.out.ok();
    Ok(())
}

/// `LASTSAVE`: the Unix time of the last successful save (or of the start).
pub(crate) fn lastsave(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.shared.persist.last_save as i64);
    Ok(())
}

/// `BGSAVE [SCHEDULE]`: a child writes the dump file while the server goes on.
pub(crate) fn bgsave(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let schedule = match args.get(1..).unwrap_or_default() {
        [] => false,
        [word] if is(word, "schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    let persist = &mut ctx.shared.persist;
    match persist.child_kind() {
        Some(ChildKind::Rdb) => Err(CmdError::err("Background save already in progress")),
        Some(_) if !(schedule || ctx.client.in_exec) => Err(CmdError::err(
            "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE \
             SCHEDULE in order to schedule a BGSAVE whenever possible.",
        )),
        running => {
            if running.is_some() || ctx.client.in_exec {
                persist.bgsave_scheduled = true;
                ctx.out.simple("Background saving scheduled");
                return Ok(());
            }
            persist
                .bgsave(ctx.db, &ctx.shared.config, ctx.now)
                .map_err(|_| bare_err())?;
            ctx.out.simple("Background saving started");
            Ok(())
        }
    }
}

/// `BGREWRITEAOF`: a child writes a new AOF base from its snapshot while appends go to a new
/// increment; when it is done the manifest drops what the base replaces.
pub(crate) fn bgrewriteaof(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let persist = &mut ctx.shared.persist;
    match persist.child_kind() {
        Some(ChildKind::Aof) => Err(CmdError::err(
            "Background append only file rewriting already in progress",
        )),
        Some(_) => {
            persist.rewrite_scheduled = true;
            ctx.out
                .simple("Background append only file rewriting scheduled");
            Ok(())
        }
        None if ctx.client.in_exec || persist.aof.is_none() => {
            // Redis rewrites even with the AOF off (the base is written, nothing appends to
            // it); here the rewrite needs an open AOF, so without one it waits for the AOF to
            // be switched on, and inside EXEC for the cron, as Redis's in_exec does.
            persist.rewrite_scheduled = true;
            ctx.out
                .simple("Background append only file rewriting scheduled");
            Ok(())
        }
        None => match persist.bgrewrite(ctx.db, &ctx.shared.config, ctx.now) {
            Ok(()) => {
                ctx.out
                    .simple("Background append only file rewriting started");
                Ok(())
            }
            Err(_) => Err(CmdError::err(
                "Can't execute an AOF background rewriting. Please check the server logs for \
                 more information.",
            )),
        },
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: saves when save points are configured or
/// SAVE is given (not with NOSAVE), fsyncs the AOF, and ends the process; a save that fails
/// keeps the server up unless FORCE. With no replicas there is nothing to wait for, so NOW
/// changes nothing and no shutdown is ever pending for ABORT.
pub(crate) fn shutdown(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let ShutdownOptions {
        nosave,
        save,
        force,
        abort,
    } = shutdown_options(args)?;
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    let save = save || (!nosave && !crate::persist::save_points(&ctx.shared.config).is_empty());
    let persist = &mut ctx.shared.persist;
    if persist
        .prepare_shutdown(ctx.db, &ctx.shared.config, save, force, ctx.now)
        .is_err()
    {
        return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
    }
    exit_process();
    Ok(())
}

/// SHUTDOWN's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShutdownOptions {
    /// NOSAVE: no dump file, even with save points configured.
    pub(crate) nosave: bool,
    /// SAVE: a dump file, even without save points.
    pub(crate) save: bool,
    /// FORCE: a failed save does not stop the shutdown.
    pub(crate) force: bool,
    /// ABORT: cancel a pending shutdown.
    pub(crate) abort: bool,
}

/// SHUTDOWN's words, checked as Redis's shutdownCommand checks them (ABORT alone, not SAVE
/// with NOSAVE); NOW changes nothing here (there are no replicas to wait for).
pub(crate) fn shutdown_options(args: &[Bytes]) -> Result<ShutdownOptions, CmdError> {
    let (mut nosave, mut save, mut force, mut abort, mut any) = (false, false, false, false, false);
    for word in args.get(1..).unwrap_or_default() {
        if is(word, "nosave") {
            nosave = true;
        } else if is(word, "save") {
            save = true;
        } else if is(word, "now") {
        } else if is(word, "force") {
            force = true;
        } else if is(word, "abort") {
            abort = true;
            continue;
        } else {
            return Err(CmdError::Syntax);
        }
        any = true;
    }
    if (abort && any) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    Ok(ShutdownOptions {
        nosave,
        save,
        force,
        abort,
    })
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: saves the dump file (unless NOSAVE), empties the
/// dataset (unless NOFLUSH) and loads the file back; with NOFLUSH the file's keys join what is
/// there, an existing key being an error unless MERGE (which replaces it).
pub(crate) fn debug_reload(ctx: &mut Ctx<'_, '_>, options: &[Bytes]) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for opt in options {
        if is(opt, "merge") {
            merge = true;
        } else if is(opt, "noflush") {
            flush = false;
        } else if is(opt, "nosave") {
            save = false;
        } else {
            return Err(CmdError::err(
                "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let config = &ctx.shared.config;
    if save {
        ctx.shared
            .persist
            .save(ctx.db, config, ctx.now)
            .map_err(|_| bare_err())?;
    }
    let path = crate::persist::dump_path(config);
    let mut loaded = crate::db::Db::new(config.databases);
    let load_error = || CmdError::err("Error trying to load the RDB dump");
    match crate::rdb::file::load(&mut loaded, &path, ctx.now) {
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => {
            log::warn!("DEBUG RELOAD: cannot load {}", path.display());
            return Err(load_error());
        }
    }
    // The libraries first, as Redis's loader meets them before the keys; emptied with the
    // data unless NOFLUSH, then a library loaded twice is refused unless MERGE.
    let policy = match (flush, merge) {
        (true, _) => Restore::Flush,
        (false, true) => Restore::Replace,
        (false, false) => Restore::Append,
    };
    ctx.db.libraries = std::mem::take(&mut loaded.libraries);
    if let Err(e) = install_libraries(ctx.shared, ctx.db, ctx.commands, policy) {
        log::warn!("DEBUG RELOAD: failed loading library, {e}");
        return Err(load_error());
    }
    for (db, space) in loaded.spaces.iter_mut().enumerate() {
        let Some(current) = ctx.db.spaces.get_mut(db) else {
            continue;
        };
        if flush {
            ctx.shared.touch_db(db, current, None, ctx.now);
            std::mem::swap(current, space);
            continue;
        }
        let keys: Vec<Vec<u8>> = space.iter().map(|e| e.key.as_bytes().to_vec()).collect();
        if !merge && keys.iter().any(|k| current.get(k).is_some()) {
            return Err(load_error());
        }
        for key in keys {
            if let Some(entry) = space.remove(&key) {
                ctx.shared.touch(db, &key);
                let accessed = entry.accessed;
                current.insert(&key, entry.value, false, accessed);
                if entry.expire_at != 0 {
                    current.set_expire_at(&key, entry.expire_at);
                }
            }
        }
    }
    log::warn!("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// CONFIG SET's follow-up for persistence: `appendonly` switched on starts the AOF with a
/// rewrite, switched off closes it, as Redis's `updateAppendonly`.
pub(crate) fn config_changed(ctx: &mut Ctx<'_, '_>, appendonly_was_on: bool) -> CmdResult {
    let on = ctx.shared.config.get("appendonly") == Some("yes");
    let persist = &mut ctx.shared.persist;
    if on && !appendonly_was_on {
        if persist
            .start_aof(ctx.db, &ctx.shared.config, ctx.now)
            .is_err()
        {
            ctx.shared.config.set("appendonly", "no").ok();
            return Err(CmdError::err(
                "CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn \
                 on AOF. Check server logs.",
            ));
        }
    } else if !on && appendonly_was_on {
        persist.stop_aof(ctx.db);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testkit::{Frame, T};

    fn err(s: &str) -> Frame {
        Frame::Error(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    fn simple(s: &str) -> Frame {
        Frame::Simple(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    /// A harness whose dump file goes to a directory of its own.
    fn harness(name: &str) -> (T, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("kv-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut h = T::new();
        h.server
            .shared
            .config
            .set("dir", dir.to_str().unwrap())
            .unwrap();
        (h, dir)
    }

    #[test]
    fn errors_and_scheduling_answer_in_redis_words() {
        let (mut h, _) = harness("errors");
        for (line, reply) in [
            ("BGSAVE now", err("ERR syntax error")),
            ("BGSAVE schedule x", err("ERR syntax error")),
            ("SHUTDOWN bad", err("ERR syntax error")),
            ("SHUTDOWN save nosave", err("ERR syntax error")),
            ("SHUTDOWN abort now", err("ERR syntax error")),
            ("SHUTDOWN abort", err("ERR No shutdown in progress.")),
            (
                "DEBUG RELOAD x",
                err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."),
            ),
        ] {
            assert_eq!(h.run(line), reply, "{line}");
        }
        // Inside EXEC a BGSAVE is scheduled, as Redis's in_exec; so is a rewrite without an AOF.
        h.run("MULTI");
        h.run("BGSAVE");
        assert_eq!(
            h.run("EXEC"),
            Frame::Array(vec![simple("Background saving scheduled")])
        );
        assert!(h.server.shared.persist.bgsave_scheduled);
        assert_eq!(
            h.run("BGREWRITEAOF"),
            simple("Background append only file rewriting scheduled")
        );
        h.run("MULTI");
        assert_eq!(
            h.run("SAVE"),
            err("ERR Command not allowed inside a transaction")
        );
    }

    #[test]
    fn save_writes_the_dump_and_lastsave_and_info_follow() {
        let (mut h, dir) = harness("save");
        h.run("SET a 1");
        h.run("SET b 2");
        let info = |h: &mut T| match h.run("INFO persistence") {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert!(info(&mut h).contains("rdb_changes_since_last_save:2\r\n"));
        assert_eq!(h.run("SAVE"), simple("OK"));
        assert!(dir.join("dump.rdb").exists());
        let text = info(&mut h);
        assert!(text.contains("rdb_changes_since_last_save:0\r\n"), "{text}");
        assert!(text.contains("rdb_saves:1\r\n"), "{text}");
        assert!(text.contains("aof_enabled:0\r\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_bgsave_with_save_points_refuses_writes_with_misconf() {
        let (mut h, _) = harness("misconf");
        h.server.shared.config.set("save", "60 1").unwrap();
        h.server.shared.persist.bgsave_ok = false;
        let misconf = err(crate::persist::BGSAVE_ERROR);
        assert_eq!(h.run("SET a 1"), misconf);
        assert_eq!(h.run("PING"), misconf);
        assert_eq!(h.run("GET a"), Frame::Null);
        h.server
            .shared
            .config
            .set("stop-writes-on-bgsave-error", "no")
            .unwrap();
        assert_eq!(h.run("SET a 1"), simple("OK"));
        assert_eq!(
            h.run("CONFIG SET save 1"),
            err("ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters")
        );
    }

    #[test]
    fn debug_reload_saves_flushes_and_loads_back() {
        let (mut h, dir) = harness("reload");
        // Immutable at run time: set as the command line does.
        h.server.shared.config = crate::config::Config::from_args(&[
            "--enable-debug-command".into(),
            "yes".into(),
            "--dir".into(),
            dir.to_str().unwrap().into(),
        ])
        .unwrap();
        h.run("SET a 1");
        h.run("RPUSH l x y");
        assert_eq!(h.run("DEBUG RELOAD"), simple("OK"));
        assert_eq!(h.run("LLEN l"), Frame::Integer(2));
        h.run("SET b 2");
        assert_eq!(
            h.run("DEBUG RELOAD NOSAVE NOFLUSH"),
            err("ERR Error trying to load the RDB dump")
        );
        assert_eq!(h.run("DEBUG RELOAD NOSAVE NOFLUSH MERGE"), simple("OK"));
        assert_eq!(h.run("GET b"), Frame::Bulk(bytes::Bytes::from_static(b"2")));
        assert_eq!(h.run("DEBUG RELOAD NOSAVE"), simple("OK"));
        assert_eq!(h.run("GET b"), Frame::Null);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
