//! `examples/wal_kv.rs` survives SIGKILL: rounds of `wal_kv run DIR` killed at random moments,
//! each followed by `wal_kv dump DIR`; every commit it acknowledged (`committed KEY VALUE` on
//! stdout) is there after recovery, and nothing else is: each key holds its last acknowledged
//! value or a value committed after it (logged, `pending LSN KEY VALUE` on stderr, perhaps
//! durable before the kill), never an older one.
//!
//! `JDB_WALKV_ROUNDS` (default 20) rounds; `JDB_WALKV_SEED` the kill timing.

mod common;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use jdb_page::testing::Rng;

/// `target/<profile>/examples/wal_kv`, built by `cargo test` with the tests.
fn wal_kv() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = profile.join("examples").join("wal_kv");
    assert!(
        bin.exists(),
        "{} is missing (cargo test builds the examples)",
        bin.display()
    );
    bin
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The complete lines a child wrote on one stream (a last line the kill cut short, without its
/// newline, is dropped), read on a thread so the child never blocks on a pipe.
fn collect(
    mut stream: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
        lines.pop(); // after the last newline: empty, or a line cut short
        lines
    })
}

#[test]
fn every_acknowledged_commit_survives_sigkill() {
    let bin = wal_kv();
    let dir = common::tempdir();
    let rounds = env_u64("JDB_WALKV_ROUNDS").unwrap_or(20);
    let mut rng = Rng::new(env_u64("JDB_WALKV_SEED").unwrap_or(7));
    // What the store held after the last round's recovery.
    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut acked_total, mut recovered_total) = (0usize, 0usize);
    for round in 0..rounds {
        let mut child = Command::new(&bin)
            .args(["run", dir.path().to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        std::thread::sleep(Duration::from_millis(150 + rng.below(350)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "round {round}: wal_kv exited by itself: {status}"
        );
        let (out, err) = (out.join().unwrap(), err.join().unwrap());

        // The commits logged this round (value -> (lsn, key)), and those acknowledged.
        let mut logged: HashMap<u64, (u64, u64)> = HashMap::new();
        for (i, line) in err.iter().enumerate() {
            let fields = line.strip_prefix("pending ").map(|rest| {
                rest.split(' ')
                    .map(str::parse)
                    .collect::<Result<Vec<u64>, _>>()
            });
            match fields {
                Some(Ok(f)) if f.len() == 3 => drop(logged.insert(f[2], (f[0], f[1]))),
                _ => assert!(
                    line.starts_with("wal_kv: recovered"),
                    "round {round}: stderr #{i}: {line}"
                ),
            }
        }
        let mut last_acked: HashMap<u64, u64> = HashMap::new(); // key -> highest acked lsn
        for (i, line) in out.iter().enumerate() {
            let fields = line.strip_prefix("committed ").map(|rest| {
                rest.split(' ')
                    .map(str::parse)
                    .collect::<Result<Vec<u64>, _>>()
            });
            let (key, value) = match fields {
                Some(Ok(f)) if f.len() == 2 => (f[0], f[1]),
                _ => panic!("round {round}: stdout #{i}: {line}"),
            };
            let &(lsn, k) = logged
                .get(&value)
                .expect("an acknowledged commit was logged");
            assert_eq!(k, key);
            let e = last_acked.entry(key).or_insert(lsn);
            *e = (*e).max(lsn);
        }
        acked_total += out.len();

        let dump = Command::new(&bin)
            .args(["dump", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            dump.status.success(),
            "round {round}: dump failed: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let dumped: BTreeMap<u64, u64> = String::from_utf8(dump.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap();
                (k.parse().unwrap(), v.parse().unwrap())
            })
            .collect();

        for (&key, &lsn) in &last_acked {
            let value = dumped.get(&key).unwrap_or_else(|| {
                panic!("round {round}: key {key}, acknowledged at LSN {lsn}, is gone")
            });
            match logged.get(value) {
                Some(&(l, k)) => assert!(
                    k == key && l >= lsn,
                    "round {round}: key {key} holds the value of LSN {l}, older than the acknowledged {lsn}"
                ),
                None => panic!("round {round}: key {key} lost its acknowledged commit (LSN {lsn})"),
            }
        }
        for (&key, value) in &dumped {
            if last_acked.contains_key(&key) {
                continue;
            }
            // Not acknowledged this round: as before, or a commit logged this round.
            let before = model.get(&key) == Some(value);
            let logged_now = logged.get(value).is_some_and(|&(_, k)| k == key);
            assert!(
                before || logged_now,
                "round {round}: key {key} holds {value}, which nobody wrote"
            );
        }
        for key in model.keys() {
            assert!(
                dumped.contains_key(key),
                "round {round}: key {key} disappeared"
            );
        }
        recovered_total += dumped.len();
        model = dumped;
    }
    eprintln!(
        "wal_kv: {rounds} kills, {acked_total} acknowledged commits, {} keys at the end",
        model.len()
    );
    assert!(acked_total > 0 && recovered_total > 0);
}
