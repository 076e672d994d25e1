//! `examples/wal_kv.rs` survives SIGKILL: rounds of `wal_kv run DIR` killed at random moments,
//! each followed by `wal_kv dump DIR`; every commit it acknowledged (`committed KEY VALUE` on
//! stdout) is there after recovery, and nothing else is: each key holds its last acknowledged
//! value or a value committed after it (logged, `pending LSN KEY VALUE` on stderr, perhaps
//! durable before the kill), never an older one. Checkpoints are taken every
//! [`CHECKPOINT_EVERY`] commits (not the example's 2000), so rounds are killed around them too:
//! some round must take one, and recovery must then start from its redo point or a later one
//! (likewise after the checkpoint that ends each recovery). Most rounds must acknowledge commits.
//!
//! `JDB_WALKV_ROUNDS` (default 20) rounds; `JDB_WALKV_SEED` the kill timing.
//!
//! Also: an error in any of `run`'s tasks (a checkpoint that cannot be saved) ends it at once,
//! with one line on stderr and exit status 1.

mod common;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use jdb_page::testing::Rng;

/// Commits between checkpoints in `wal_kv run` (`JDB_WALKV_CHECKPOINT_EVERY`).
const CHECKPOINT_EVERY: &str = "100";

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

/// The numbers of a line `prefix N N ...`, if it is one.
fn numbers(line: &str, prefix: &str) -> Option<Vec<u64>> {
    let rest = line.strip_prefix(prefix)?;
    rest.split(' ').map(|w| w.parse().ok()).collect()
}

/// The redo point of a `wal_kv: recovered: ...` line (`..., redo from LSN R, ...`).
fn recovered_redo(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("wal_kv: recovered: ")?;
    let (_, after) = rest.split_once(", redo from LSN ")?;
    after.split(',').next()?.parse().ok()
}

/// The redo point of the checkpoint that ended recovery, in a `wal_kv: recovered: ...` line
/// (`..., next redo from LSN N`).
fn next_redo(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("wal_kv: recovered: ")?;
    rest.split_once(", next redo from LSN ")?.1.parse().ok()
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
    let (mut rounds_acked, mut rounds_checkpointed, mut checkpoints) = (0, 0, 0);
    for round in 0..rounds {
        let mut child = Command::new(&bin)
            .args(["run", dir.path().to_str().unwrap()])
            .env("JDB_WALKV_CHECKPOINT_EVERY", CHECKPOINT_EVERY)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        let alive = 150 + rng.below(350);
        std::thread::sleep(Duration::from_millis(alive));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "round {round}: wal_kv exited by itself: {status}"
        );
        let (out, err) = (out.join().unwrap(), err.join().unwrap());

        // The commits logged this round (value -> (lsn, key)), and those acknowledged; the
        // redo point of the last checkpoint that said it was durable (recovery's, then the
        // run's), and of the run's last.
        let mut logged: HashMap<u64, (u64, u64)> = HashMap::new();
        let (mut durable_redo, mut checkpointed) = (0, None);
        for (i, line) in err.iter().enumerate() {
            if let Some(f) = numbers(line, "pending ").filter(|f| f.len() == 3) {
                logged.insert(f[2], (f[0], f[1]));
            } else if let Some(f) = numbers(line, "checkpoint ").filter(|f| f.len() == 2) {
                let (redo, upto) = (f[0], f[1]);
                assert!(
                    redo >= durable_redo && redo <= upto + 1,
                    "round {round}: checkpoint at {upto} with redo point {redo}, after {durable_redo}"
                );
                (durable_redo, checkpointed) = (redo, Some(redo));
                checkpoints += 1;
            } else {
                let next = recovered_redo(line).and(next_redo(line));
                let Some(next) = next else {
                    panic!("round {round}: stderr #{i}: {line}");
                };
                durable_redo = next;
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
        rounds_acked += usize::from(!out.is_empty());
        rounds_checkpointed += usize::from(checkpointed.is_some());
        eprintln!(
            "round {round}: killed after {alive} ms, {} commits acknowledged, checkpoint {checkpointed:?}",
            out.len()
        );

        let dump = Command::new(&bin)
            .args(["dump", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        let dump_err = String::from_utf8_lossy(&dump.stderr);
        assert!(
            dump.status.success(),
            "round {round}: dump failed: {dump_err}"
        );
        // Recovery starts at the last durable checkpoint's redo point (or a later one's whose
        // line the kill cut off).
        let redo = dump_err.lines().find_map(recovered_redo);
        let Some(redo) = redo else {
            panic!("round {round}: dump did not say where recovery started: {dump_err}");
        };
        assert!(
            redo >= durable_redo,
            "round {round}: recovery started at LSN {redo}, before the checkpoint's {durable_redo}"
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
        "wal_kv: {rounds} kills, {acked_total} acknowledged commits ({rounds_acked} rounds with \
         some), {checkpoints} checkpoints ({rounds_checkpointed} rounds with some), {} keys at \
         the end",
        model.len()
    );
    assert!(acked_total > 0 && recovered_total > 0);
    assert!(
        rounds_acked * 2 > rounds as usize,
        "only {rounds_acked} of {rounds} rounds acknowledged a commit"
    );
    assert!(rounds_checkpointed > 0, "no round took a checkpoint");
}

#[test]
fn a_checkpoint_that_cannot_be_saved_ends_run_with_one_line() {
    // Once recovery has saved its checkpoint (it says so on stderr), `checkpoint.tmp` is made a
    // directory: the first checkpoint of the run (after 100 commits, by whichever of the 16
    // tasks makes the 100th) cannot be saved. The other tasks would commit forever.
    let bin = wal_kv();
    let dir = common::tempdir();
    let mut child = Command::new(&bin)
        .args(["run", dir.path().to_str().unwrap()])
        .env("JDB_WALKV_CHECKPOINT_EVERY", CHECKPOINT_EVERY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if recovered_redo(&line).is_some() => break,
            Ok(_) => {}
            Err(e) => {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("wal_kv run did not say it recovered: {e}");
            }
        }
    }
    std::fs::create_dir(dir.path().join("checkpoint.tmp")).unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("wal_kv run still running 60 s after it started: a failed task did not end it");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert_eq!(status.code(), Some(1), "{status}: {err:?}");
    assert!(out.len() >= 100, "{} commits acknowledged", out.len());
    let errors: Vec<&String> = err
        .iter()
        .filter(|l| l.starts_with("wal_kv: ") && recovered_redo(l).is_none())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(err.last(), Some(errors[0]), "the error is the last line");
    assert!(
        errors[0].starts_with("wal_kv: checkpoint: saving ")
            && errors[0].contains("checkpoint.tmp"),
        "{}",
        errors[0]
    );
}
