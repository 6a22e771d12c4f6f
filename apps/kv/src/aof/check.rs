//! `spindle kv check-aof [--fix] FILE`: redis-check-aof 7.0 — checks a multi-part AOF (its
//! manifest), an old-style AOF or one with an RDB preamble, prints what it found in Redis's
//! words (the last valid offset and line, the error at its offset), and with `--fix`
//! truncates a torn last file after its last whole command. Redis asks y/N on the terminal
//! before truncating; here `--fix` itself is the consent. Exit status 0 when every file is
//! valid (or was fixed), 1 otherwise, as redis-check-aof.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::manifest::Manifest;

/// How checking one file ended, when it did not stop the whole check.
enum Checked {
    /// Valid to the end.
    Ok,
    /// Empty.
    Empty,
    /// Truncated by `--fix`.
    Truncated,
}

/// Stops the check: the message was printed, the exit status is 1.
struct Abort;

/// The checker's running state: the line counter (kept across files, as Redis's static
/// `line` is) and where output goes.
struct Checker<'a> {
    line: u64,
    fix: bool,
    out: &'a mut dyn Write,
}

/// Runs the check with `args` (`[--fix] FILE`), printing to `out`; returns the exit status.
pub fn check_aof(args: &[String], out: &mut dyn Write) -> i32 {
    let (fix, file) = match args {
        [file] => (false, file),
        [flag, file] if flag == "--fix" => (true, file),
        _ => {
            let _ = writeln!(
                out,
                "Usage: spindle kv check-aof [--fix] <file.manifest|file.aof>"
            );
            return 1;
        }
    };
    let mut checker = Checker { line: 1, fix, out };
    match checker.run(Path::new(file)) {
        Ok(()) => 0,
        Err(Abort) => 1,
    }
}

impl Checker<'_> {
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    fn run(&mut self, path: &Path) -> Result<(), Abort> {
        let bytes = fs::read(path).map_err(|e| {
            self.say(&format!("Cannot open file {}: {e}", path.display()));
            Abort
        })?;
        let is_manifest = String::from_utf8_lossy(&bytes)
            .lines()
            .any(|l| !l.starts_with('#') && l.starts_with("file"));
        if is_manifest {
            return self.multi_part(path, &bytes);
        }
        self.say("Start checking Old-Style AOF");
        let name = path.display().to_string();
        let preamble = bytes.len() >= 8 && bytes.starts_with(b"REDIS");
        match self.single(&name, path, true, preamble)? {
            Checked::Ok => self.say(&format!("AOF {name} is valid")),
            Checked::Empty => self.say(&format!("AOF {name} is empty")),
            Checked::Truncated => self.say(&format!("Successfully truncated AOF {name}")),
        }
        Ok(())
    }

    /// A manifest: the base, then every increment, only the last one truncatable.
    fn multi_part(&mut self, path: &Path, text: &[u8]) -> Result<(), Abort> {
        self.say("Start checking Multi Part AOF");
        let manifest = Manifest::parse(&String::from_utf8_lossy(text)).map_err(|e| {
            self.say(&e);
            Abort
        })?;
        let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        let total = manifest.loading_order().count();
        let mut seen = 0;
        if let Some(base) = &manifest.base {
            seen += 1;
            let file = dir.join(&base.name);
            let preamble = fs::read(&file)
                .map(|b| b.len() >= 8 && b.starts_with(b"REDIS"))
                .unwrap_or(false);
            self.say(&format!(
                "Start to check BASE AOF ({} format).",
                if preamble { "RDB" } else { "RESP" }
            ));
            let checked = self.single(&base.name, &file, seen == total, preamble)?;
            self.report("BASE", &base.name, checked);
        }
        if !manifest.incrs.is_empty() {
            self.say("Start to check INCR files.");
            for incr in &manifest.incrs {
                seen += 1;
                let file = dir.join(&incr.name);
                let checked = self.single(&incr.name, &file, seen == total, false)?;
                self.report("INCR", &incr.name, checked);
            }
        }
        self.say("All AOF files and manifest are valid");
        Ok(())
    }

    fn report(&mut self, kind: &str, name: &str, checked: Checked) {
        match checked {
            Checked::Ok => self.say(&format!("{kind} AOF {name} is valid")),
            Checked::Empty => self.say(&format!("{kind} AOF {name} is empty")),
            Checked::Truncated => self.say(&format!("Successfully truncated AOF {name}")),
        }
    }

    /// One file, as redis-check-aof's `checkSingleAof`.
    fn single(
        &mut self,
        name: &str,
        path: &Path,
        last: bool,
        preamble: bool,
    ) -> Result<Checked, Abort> {
        let bytes = fs::read(path).map_err(|e| {
            self.say(&format!(
                "Cannot open file {}: {e}, aborting...",
                path.display()
            ));
            Abort
        })?;
        if bytes.is_empty() {
            return Ok(Checked::Empty);
        }
        let mut pos = 0usize;
        if preamble {
            self.say(&format!("[offset 0] Checking RDB file {name}"));
            let mut db = crate::db::Db::new(16);
            match crate::rdb::decode::decode_into(&mut db, &bytes, 0) {
                Ok(loaded) => {
                    self.say(&format!("[offset {}] \\o/ RDB looks OK! \\o/", bytes.len()));
                    self.say(&format!("[info] {} keys read", loaded.keys));
                    self.say(&format!("[info] {} already expired", loaded.expired));
                    self.say("RDB preamble is OK, proceeding with AOF tail...");
                    pos = bytes.len();
                }
                Err(e) => {
                    self.say(&format!("--- RDB ERROR DETECTED ---\n{e}"));
                    self.say("RDB preamble of AOF file is not sane, aborting.");
                    return Err(Abort);
                }
            }
        }
        let mut scan = Scan {
            bytes: &bytes,
            at: pos,
            line: self.line,
            error: None,
        };
        let mut multi = 0i32;
        let mut format_error = false;
        let mut at_eof = false;
        loop {
            if multi == 0 {
                pos = scan.at;
            }
            let Some(&first) = bytes.get(scan.at) else {
                at_eof = true;
                break;
            };
            if first == b'#' {
                match bytes
                    .get(scan.at..)
                    .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                {
                    Some(n) => scan.at += n + 1,
                    None => scan.at = bytes.len(),
                }
            } else if first == b'*' {
                if !scan.command(name, &mut multi) {
                    at_eof = scan.at >= bytes.len();
                    break;
                }
            } else {
                self.say(&format!("AOF {name} format error"));
                format_error = true;
                break;
            }
        }
        self.line = scan.line;
        if at_eof && !format_error && multi != 0 && scan.error.is_none() {
            scan.error = Some(format!(
                "0x{:16x}: Reached EOF before reading EXEC for MULTI",
                scan.at
            ));
        }
        if let Some(error) = scan.error.take() {
            self.say(&error);
        }
        let size = bytes.len();
        let diff = size - pos.min(size);
        self.say(&format!(
            "AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, ok_up_to_line={}, \
             diff={diff}",
            self.line
        ));
        if diff == 0 {
            return Ok(Checked::Ok);
        }
        if !self.fix {
            self.say(&format!(
                "AOF {name} is not valid. Use the --fix option to try fixing it."
            ));
            return Err(Abort);
        }
        if !last {
            self.say(&format!(
                "Failed to truncate AOF {name} because it is not the last file"
            ));
            return Err(Abort);
        }
        self.say(&format!(
            "This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {pos} bytes"
        ));
        let truncated = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(pos as u64).and_then(|()| f.sync_all()));
        if truncated.is_err() {
            self.say(&format!("Failed to truncate AOF {name}"));
            return Err(Abort);
        }
        Ok(Checked::Truncated)
    }
}

/// Reading commands as redis-check-aof does (`readLong`, `readString`), with its errors.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
    error: Option<String>,
}

impl Scan<'_> {
    fn fail(&mut self, at: usize, text: String) -> bool {
        self.error = Some(format!("0x{at:16x}: {text}"));
        false
    }

    /// Reads what `fgets` with a 128-byte buffer reads: up to a newline or 127 bytes.
    fn fgets(&mut self) -> Option<&[u8]> {
        let rest = self.bytes.get(self.at..)?;
        if rest.is_empty() {
            return None;
        }
        let n = rest
            .iter()
            .take(127)
            .position(|&b| b == b'\n')
            .map_or(rest.len().min(127), |i| i + 1);
        self.at += n;
        rest.get(..n)
    }

    /// `\r\n` expected at the start of `tail`.
    fn newline(&mut self, at: usize, tail: &[u8]) -> bool {
        if tail.starts_with(b"\r\n") {
            self.line += 1;
            return true;
        }
        let b0 = tail.first().copied().unwrap_or(0);
        let b1 = tail.get(1).copied().unwrap_or(0);
        self.fail(at, format!("Expected \\r\\n, got: {b0:02x}{b1:02x}"))
    }

    /// A `prefix`ed number line (`*3`, `$5`).
    fn long(&mut self, prefix: u8) -> Option<i64> {
        let at = self.at;
        let buf = self.fgets()?.to_vec();
        let got = buf.first().copied().unwrap_or(0);
        if got != prefix {
            self.fail(
                at,
                format!(
                    "Expected prefix '{}', got: '{}'",
                    char::from(prefix),
                    char::from(got)
                ),
            );
            return None;
        }
        // strtol: optional sign and digits; what follows must be \r\n.
        let body = buf.get(1..).unwrap_or_default();
        let mut end = 0;
        if matches!(body.first(), Some(b'-') | Some(b'+')) {
            end = 1;
        }
        while body.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let n = std::str::from_utf8(body.get(..end).unwrap_or_default())
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if !self.newline(at, body.get(end..).unwrap_or_default()) {
            return None;
        }
        Some(n)
    }

    /// One command; MULTI and EXEC counted in `multi`. False when it does not read whole.
    fn command(&mut self, file: &str, multi: &mut i32) -> bool {
        let Some(argc) = self.long(b'*') else {
            return false;
        };
        for i in 0..argc {
            let Some(len) = self.long(b'$') else {
                return false;
            };
            let at = self.at;
            if !(0..=i64::MAX - 2).contains(&len) {
                return self.fail(
                    at,
                    format!(
                        "Expected to read string of {len} bytes, which is not in the suitable \
                         range"
                    ),
                );
            }
            let want = len as usize + 2;
            let available = self.bytes.len().saturating_sub(self.at);
            if available < want {
                self.at = self.bytes.len();
                return self.fail(
                    at,
                    format!("Expected to read {want} bytes, got {available} bytes"),
                );
            }
            let start = self.at;
            self.at += want;
            let word = self
                .bytes
                .get(start..start + len as usize)
                .unwrap_or_default();
            let tail = self
                .bytes
                .get(start + len as usize..self.at)
                .unwrap_or_default();
            if !self.newline(at, tail) {
                return false;
            }
            if i == 0 {
                if word.eq_ignore_ascii_case(b"multi") {
                    *multi += 1;
                    if *multi > 1 {
                        return self.fail(at, format!("Unexpected MULTI in AOF {file}"));
                    }
                } else if word.eq_ignore_ascii_case(b"exec") {
                    *multi -= 1;
                    if *multi != 0 {
                        return self.fail(at, format!("Unexpected EXEC in AOF {file}"));
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (i32, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let code = check_aof(&args, &mut out);
        (code, String::from_utf8(out).unwrap())
    }

    const SELECT_SET: &[u8] =
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\nb\r\n";

    #[test]
    fn a_torn_increment_is_reported_then_fixed_in_redis_check_aof_words() {
        let dir = std::env::temp_dir().join(format!("kv-check-aof-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("appendonly.aof.manifest"),
            "file appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        let incr = dir.join("appendonly.aof.1.incr.aof");
        fs::write(&incr, &SELECT_SET[..SELECT_SET.len() - 3]).unwrap();
        let manifest = dir.join("appendonly.aof.manifest");
        let m = manifest.to_str().unwrap();
        // What redis-check-aof 7.0.15 prints for the same bytes.
        let (code, out) = run(&[m]);
        assert_eq!(code, 1);
        assert_eq!(
            out,
            "Start checking Multi Part AOF\nStart to check INCR files.\n\
             0x              2f: Expected to read 3 bytes, got 0 bytes\n\
             AOF analyzed: filename=appendonly.aof.1.incr.aof, size=47, ok_up_to=23, \
             ok_up_to_line=12, diff=24\n\
             AOF appendonly.aof.1.incr.aof is not valid. Use the --fix option to try fixing it.\n"
        );
        let (code, out) = run(&["--fix", m]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(
            "This will shrink the AOF appendonly.aof.1.incr.aof from 47 bytes, with 24 bytes, \
             to 23 bytes\nSuccessfully truncated AOF appendonly.aof.1.incr.aof\n\
             All AOF files and manifest are valid\n"
        ));
        assert_eq!(fs::metadata(&incr).unwrap().len(), 23);
        let (code, out) = run(&[incr.to_str().unwrap()]);
        assert_eq!(code, 0);
        assert!(
            out.contains("ok_up_to=23, ok_up_to_line=6, diff=0"),
            "{out}"
        );
        assert_eq!(run(&["--fix"]).0, 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
