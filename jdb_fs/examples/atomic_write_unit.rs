//! Prints what `statx` says of untorn (atomic) Direct I/O writes for a file:
//! `cargo run -p jdb_fs --example atomic_write_unit -- [PATH]` (default: a new file here).

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "atomic-write-probe.tmp".into());
    let created = !std::path::Path::new(&path).exists();
    compio::runtime::Runtime::new().unwrap().block_on(async {
        match jdb_fs::File::open_rw(&path).await {
            Ok(file) => match file.atomic_write_unit() {
                Some((min, max)) => println!(
                    "{path}: untorn Direct I/O writes of {min}..={max} bytes (with RWF_ATOMIC); a 4 KiB page: {}",
                    if min <= 4096 && 4096 <= max { "yes" } else { "no" }
                ),
                None => println!(
                    "{path}: no atomic write unit (direct I/O: {}): torn 4 KiB writes are possible, keep the doublewrite area",
                    file.is_direct()
                ),
            },
            Err(e) => eprintln!("{e}"),
        }
    });
    if created {
        let _ = std::fs::remove_file(&path);
    }
}
