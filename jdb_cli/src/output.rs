//! Writing to stdout without panicking, one-line error messages, and number formatting.

use std::io::{self, Write};

/// Writes `text` to stdout. A closed pipe (`jdb verify f | head`) is an error the caller can
/// recognise with [`is_broken_pipe`], never a panic.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Whether `e` is a write to a closed pipe (not worth an error message).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints `e` and its causes as one line on stderr: `jdb: what: why: root cause`. A cause whose
/// text is already part of the message (errors that print their source) is not repeated.
pub fn print_error(e: &anyhow::Error) {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    let line = line.replace('\n', " ");
    // Nothing sensible is left to do if stderr itself is gone.
    let _ = writeln!(io::stderr().lock(), "jdb: {line}");
}

/// What `statx` says of untorn writes to a file ([`jdb_fs::File::atomic_write_unit`], Linux
/// 6.11+) in words, for `unit` as it returns it and `direct`: whether the file was opened with
/// `O_DIRECT` (the only path such writes take). `4096..65536 bytes (...)` or `none reported (...)`.
pub fn atomic_write_unit(unit: Option<(u32, u32)>, direct: bool) -> String {
    match unit {
        Some((min, max)) => {
            let page = jdb_fs::PAGE_SIZE as u64;
            let fits = if (u64::from(min)..=u64::from(max)).contains(&page) {
                "a 4 KiB page fits"
            } else {
                "a 4 KiB page does not fit"
            };
            format!(
                "{min}..{max} bytes ({fits}; untorn only when written with RWF_ATOMIC, which jdb \
                 does not do yet: the doublewrite area is still advised)"
            )
        }
        None if !direct => "none reported (the file was opened without O_DIRECT, which untorn \
                            writes need; the doublewrite area is advised)"
            .to_string(),
        None => "none reported (the doublewrite area is advised)".to_string(),
    }
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Bytes in binary units, short: `512 KiB`, `64 MiB`, `23.4 GiB`.
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 || value >= 100.0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in microseconds, with a unit that keeps it short: `0.41 µs`, `152 µs`, `2.10 ms`.
pub fn micros(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// A row or other bytes for a terminal: printable ASCII as text, everything else as `\xNN`,
/// cut after `max` bytes (with `...` and the full length).
pub fn escape_bytes(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut out = String::with_capacity(shown.len() + 2);
    out.push('"');
    for &b in shown {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    if bytes.len() > max {
        out.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(80 << 20), "80 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(23 * (1 << 30) + (1 << 29)), "23.5 GiB");
        assert_eq!(bytes(100), "100 B");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn escape_shows_text_and_hex() {
        assert_eq!(escape_bytes(b"hi \"x\"\0", 64), r#""hi \"x\"\x00""#);
        assert_eq!(escape_bytes(b"abcdef", 3), "\"abc\"... (6 bytes)");
    }

    #[test]
    fn error_causes_are_not_repeated() {
        let io = io::Error::new(io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(io).context("open f: gone");
        let mut line = e.to_string();
        for cause in e.chain().skip(1) {
            if !line.contains(&cause.to_string()) {
                line.push_str(&cause.to_string());
            }
        }
        assert_eq!(line, "open f: gone");
    }
}
