//! Tests of what the writer does to the file: bytes written per payload
//! byte through appends, retention and the reuse of freed pages (counted by
//! the kernel for this thread in /proc/thread-self/io); start-up after a
//! kill in the middle of a commit (a hot journal); the one-time conversion
//! of a database in the earlier format; the disk guard's refusal and its
//! recovery once pages are freed.
//!
//! The kills are real: the test re-runs its own binary as a child that
//! aborts half-way, and the parent opens what the child left.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::*;
use crate::batch::tests::make_batch;
use crate::batch::BatchHeader;
use crate::catalog::{Catalog, Partition};
use crate::storage::disk::METADATA_RESERVE;
use crate::storage::schema::JOURNAL_SIZE_LIMIT;
use crate::storage::{
    busy, format, load, offsets, reader, schema, Appended, Durability, OffsetRow, WriteError,
};

const KIB: usize = 1024;
const MIB: u64 = 1024 * 1024;

/// A writer on the database at `path`, opened as `Storage::open` does it
/// (conversion first), driven group by group from the test's thread.
fn open_with(path: &Path, limits: DiskLimits) -> (Writer, Arc<Catalog>) {
    let conn = crate::storage::vfs::open_writer(path).unwrap();
    busy::install(&conn).unwrap();
    format::convert(&conn, "test").unwrap();
    schema::configure_writer(&conn, Durability::Normal).unwrap();
    let (logs, next_pid) = load::partition_logs(&conn, 0).unwrap();
    let catalog = Arc::new(load::catalog(&conn, &logs).unwrap());
    let state = WriterState::new(
        catalog.clone(),
        logs,
        Default::default(),
        next_pid,
        10_000,
        86_400_000,
        100_000,
    );
    (Writer::new(conn, limits, state), catalog)
}

fn open(path: &Path) -> (Writer, Arc<Catalog>) {
    open_with(path, DiskLimits::new(path, 0, 0))
}

fn create_topic(w: &mut Writer, catalog: &Catalog, name: &str) -> Vec<Arc<Partition>> {
    let (reply, mut rx) = oneshot::channel();
    w.commit_group(vec![Command::CreateTopic {
        name: name.into(),
        partitions: 1,
        overrides: BTreeMap::new(),
        reply,
    }]);
    rx.try_recv().unwrap().unwrap();
    catalog.get(name).unwrap().partitions().to_vec()
}

/// A batch of `records` values of `size` bytes each.
fn batch(records: usize, size: usize) -> Bytes {
    let value = vec![0x5au8; size];
    let values: Vec<&[u8]> = (0..records).map(|_| value.as_slice()).collect();
    make_batch(&values, 1_700_000_000_000, None)
}

type Answer<T> = oneshot::Receiver<crate::storage::WriteResult<T>>;

fn append(p: &Arc<Partition>, bytes: &Bytes) -> (Command, Answer<Appended>) {
    let (reply, rx) = oneshot::channel();
    let header = BatchHeader::parse(bytes).unwrap();
    let cmd = Command::Append {
        partition: p.clone(),
        batch: (header, bytes.clone()),
        log_append_time: false,
        reply,
    };
    (cmd, rx)
}

/// Commits one group of `n` appends of `bytes`; answers how many were
/// acknowledged.
fn append_group(w: &mut Writer, p: &Arc<Partition>, bytes: &Bytes, n: usize) -> usize {
    let (cmds, answers): (Vec<_>, Vec<_>) = (0..n).map(|_| append(p, bytes)).unzip();
    w.commit_group(cmds);
    answers
        .into_iter()
        .filter_map(|mut rx| rx.try_recv().ok())
        .filter(|a| a.is_ok())
        .count()
}

fn delete_records(w: &mut Writer, p: &Arc<Partition>, offset: i64) -> i64 {
    let (reply, mut rx) = oneshot::channel();
    w.commit_group(vec![Command::DeleteRecords {
        partition: p.clone(),
        offset,
        reply,
    }]);
    rx.try_recv().unwrap().unwrap()
}

/// Bytes this thread has sent to the storage layer so far (pages it
/// dirtied, less dirty pages truncated before they were written).
fn thread_written() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    let field = |name: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    field("write_bytes:") - field("cancelled_write_bytes:")
}

fn pragma(w: &Writer, name: &str) -> i64 {
    w.conn
        .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn bytes_written_per_payload_byte_stay_within_1_1_through_retention_and_reuse() {
    // The temporary directory must be on a disk (not tmpfs), where the
    // kernel counts written bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skiff.db");
    let (mut w, catalog) = open(&path);
    let p = &create_topic(&mut w, &catalog, "t")[0];
    // Groups of 8 batches of 128 records of 1 KiB: 1 MiB per commit, as a
    // producer with linger gives under load.
    let records = 128;
    let bytes = batch(records, KIB);
    let groups = 48;
    let start = thread_written();
    for _ in 0..groups {
        assert_eq!(append_group(&mut w, p, &bytes, 8), 8);
    }
    let filled = pragma(&w, "page_count");
    // Retention: the older half goes; its pages join the free list.
    let half = p.high_watermark() / 2;
    assert_eq!(delete_records(&mut w, p, half), half);
    assert!(pragma(&w, "freelist_count") > filled / 3);
    // Appending again fills the freed pages instead of growing the file.
    for _ in 0..groups / 2 {
        assert_eq!(append_group(&mut w, p, &bytes, 8), 8);
    }
    let written = thread_written() - start;
    let payload = (groups + groups / 2) as u64 * 8 * records as u64 * KIB as u64;
    let amplification = written as f64 / payload as f64;
    eprintln!("written {written} bytes for {payload} payload bytes: {amplification:.4}");
    assert!(
        pragma(&w, "page_count") <= filled + 16,
        "freed pages were not reused"
    );
    assert!(
        amplification >= 1.0,
        "{amplification}: fewer bytes written than produced; is TMPDIR on tmpfs?"
    );
    assert!(
        amplification <= 1.1,
        "{amplification} bytes per payload byte"
    );
}

/// Set in the child process of the kill test: the database it works on.
const KILLED_COMMIT: &str = "SKIFF_TEST_KILLED_COMMIT_DB";
/// Set in the child process of the conversion test.
const OLD_FORMAT: &str = "SKIFF_TEST_OLD_FORMAT_DB";

/// Runs the test `name` of this binary in a child process with `var` set
/// to `path`; the child aborts.
fn run_child(name: &str, var: &str, path: &Path) {
    let status = Process::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(var, path)
        .status()
        .unwrap();
    assert!(!status.success(), "the child was meant to abort");
}

/// Every stored batch of `p` as Fetch returns it.
fn all_batches(w: &Writer, p: &Partition) -> Bytes {
    reader::read_batches(&w.conn, p.db_id, 0, p.high_watermark(), usize::MAX, true).unwrap()
}

#[test]
fn start_up_after_a_kill_in_the_middle_of_a_commit_rolls_it_back_and_keeps_the_rest() {
    if let Ok(path) = std::env::var(KILLED_COMMIT) {
        // The child: a commit that changes every existing page of the
        // table, with a page cache so small that SQLite writes changed
        // pages into the database file (after journaling them) before
        // COMMIT; then the process dies.
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "PERSIST").unwrap();
        conn.pragma_update(None, "cache_size", 10).unwrap();
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             UPDATE batches SET max_timestamp = -5, data = zeroblob(length(data));
             DELETE FROM partitions;",
        )
        .unwrap();
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skiff.db");
    let (mut w, catalog) = open(&path);
    let p = create_topic(&mut w, &catalog, "t")[0].clone();
    // 400 small batches, each its own row in the table's leaf pages.
    let small = batch(1, KIB);
    for _ in 0..8 {
        assert_eq!(append_group(&mut w, &p, &small, 50), 50);
    }
    let before = all_batches(&w, &p);
    drop(w);
    let image = std::fs::read(&path).unwrap();

    run_child(
        "storage::writer::io_tests::start_up_after_a_kill_in_the_middle_of_a_commit_rolls_it_back_and_keeps_the_rest",
        KILLED_COMMIT,
        &path,
    );
    // The child left a hot journal (its header is valid) and a database
    // file its uncommitted transaction had partly overwritten.
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    let head = std::fs::read(&journal).unwrap();
    assert_eq!(head[..8], [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
    assert_ne!(std::fs::read(&path).unwrap(), image);

    let (mut w, catalog) = open(&path);
    let p = catalog.get("t").unwrap().partitions()[0].clone();
    assert_eq!(p.high_watermark(), 400);
    assert_eq!(all_batches(&w, &p), before);
    assert_eq!(std::fs::read(&path).unwrap(), image);
    // And the log goes on where it was.
    let (cmd, mut rx) = append(&p, &small);
    w.commit_group(vec![cmd]);
    assert_eq!(rx.try_recv().unwrap().unwrap().base_offset, 400);
}

#[test]
fn a_database_in_the_earlier_format_is_converted_once_with_nothing_lost() {
    if let Ok(path) = std::env::var(OLD_FORMAT) {
        // The child: a database as the earlier Skiff wrote it (WAL, 16 KiB
        // pages), with a topic, records and committed offsets still in the
        // WAL when the process dies.
        let path = Path::new(&path);
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "page_size", 16384).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.execute_batch(schema::SCHEMA).unwrap();
        conn.execute_batch(offsets::SCHEMA).unwrap();
        schema::migrate(&conn).unwrap();
        let (logs, next_pid) = load::partition_logs(&conn, 0).unwrap();
        let catalog = Arc::new(load::catalog(&conn, &logs).unwrap());
        let state = WriterState::new(
            catalog.clone(),
            logs,
            Default::default(),
            next_pid,
            10_000,
            86_400_000,
            100_000,
        );
        let mut w = Writer::new(conn, DiskLimits::new(path, 0, 0), state);
        let p = create_topic(&mut w, &catalog, "t")[0].clone();
        for _ in 0..10 {
            assert_eq!(append_group(&mut w, &p, &batch(10, KIB), 10), 10);
        }
        let (reply, mut rx) = oneshot::channel();
        w.commit_group(vec![Command::CommitOffsets {
            group: "g".into(),
            offsets: vec![OffsetRow {
                topic: "t".into(),
                partition: 0,
                offset: 42,
                leader_epoch: -1,
                metadata: String::new(),
                commit_ms: 1,
            }],
            reply,
        }]);
        rx.try_recv().unwrap().unwrap();
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skiff.db");
    run_child(
        "storage::writer::io_tests::a_database_in_the_earlier_format_is_converted_once_with_nothing_lost",
        OLD_FORMAT,
        &path,
    );
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    let (w, catalog) = open(&path);
    let now = format::read(&w.conn).unwrap();
    assert_eq!((now.page_size, now.wal), (4096, false));
    assert!(!Path::new(&wal).exists());
    let p = catalog.get("t").unwrap().partitions()[0].clone();
    assert_eq!(p.high_watermark(), 1000);
    let data = all_batches(&w, &p);
    assert_eq!(crate::batch::records_in_set(&data), 1000);
    let offsets = offsets::load(&w.conn).unwrap();
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[0].1.offset, 42);
    // Converted once: the next start finds the current format.
    assert!(!format::convert(&w.conn, "test").unwrap());
    drop(w);
    let (w, _) = open(&path);
    assert_eq!(format::read(&w.conn).unwrap().page_size, 4096);
}

#[test]
fn the_disk_guard_refuses_growing_writes_and_recovers_once_pages_are_freed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skiff.db");
    // Room for about 3 MiB of records besides the journal's reserve and
    // the metadata reserve.
    let cap = JOURNAL_SIZE_LIMIT as u64 + METADATA_RESERVE + 3 * MIB;
    let (mut w, catalog) = open_with(&path, DiskLimits::new(&path, cap, 0));
    let p = create_topic(&mut w, &catalog, "t")[0].clone();
    let big = batch(256, KIB);
    let mut stored = 0;
    while append_group(&mut w, &p, &big, 1) == 1 {
        stored += 1;
        assert!(stored < 100, "the guard never refused");
    }
    assert!(stored >= 8, "refused after {stored} batches");
    let in_use = (pragma(&w, "page_count") - pragma(&w, "freelist_count")) as u64 * 4096;
    assert!(in_use + JOURNAL_SIZE_LIMIT as u64 <= cap, "{in_use}");
    // The refusal is KAFKA_STORAGE_ERROR, which producers retry.
    let (cmd, mut rx) = append(&p, &big);
    w.commit_group(vec![cmd]);
    assert_eq!(rx.try_recv().unwrap(), Err(WriteError::StorageFull));
    // Small writes go on within the metadata reserve: consumers commit.
    let (reply, mut rx) = oneshot::channel();
    w.commit_group(vec![Command::CommitOffsets {
        group: "g".into(),
        offsets: vec![OffsetRow {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_ms: 1,
        }],
        reply,
    }]);
    rx.try_recv().unwrap().unwrap();
    // A creation beyond the room is refused before it writes anything.
    let (reply, mut rx) = oneshot::channel();
    w.commit_group(vec![Command::CreateTopic {
        name: "huge".into(),
        partitions: 100_000,
        overrides: BTreeMap::new(),
        reply,
    }]);
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(WriteError::StorageFull)
    ));
    assert!(catalog.get("huge").is_none());

    // Retention (here DeleteRecords) frees pages: produce resumes at the
    // next group, with the file no larger and no restart.
    let size = std::fs::metadata(&path).unwrap().len();
    let hw = p.high_watermark();
    delete_records(&mut w, &p, hw);
    assert_eq!(append_group(&mut w, &p, &big, 4), 4);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    // Deleting the topic frees the rest.
    while append_group(&mut w, &p, &big, 1) == 1 {}
    let (reply, mut rx) = oneshot::channel();
    w.commit_group(vec![Command::DeleteTopic {
        name: "t".into(),
        reply,
    }]);
    rx.try_recv().unwrap().unwrap();
    let q = create_topic(&mut w, &catalog, "u")[0].clone();
    assert_eq!(append_group(&mut w, &q, &big, 8), 8);
}

#[test]
fn reads_under_saturated_commits_wait_at_most_a_commit_and_never_see_busy() {
    // The writer commits 4 MiB groups back to back on its own thread while
    // this thread reads, as Fetch does, on a read-only connection: the
    // newest batch (a consumer at the tail) and 1 MiB from the start (one
    // catching up). Every read must succeed (the busy handlers wait instead
    // of returning SQLITE_BUSY) and none may wait longer than the stated
    // bound, 2 s: a commit here takes milliseconds, so the bound leaves
    // room for a loaded machine and still catches a reader starved for
    // the whole run.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skiff.db");
    let (mut w, catalog) = open(&path);
    let p = create_topic(&mut w, &catalog, "t")[0].clone();
    let bytes = batch(512, KIB);
    assert_eq!(append_group(&mut w, &p, &bytes, 8), 8);
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
            let mut groups = 0;
            while std::time::Instant::now() < end {
                assert_eq!(append_group(&mut w, &p, &bytes, 8), 8);
                groups += 1;
            }
            groups
        })
    };
    let conn = Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    schema::configure_reader(&conn).unwrap();
    let mut longest = std::time::Duration::ZERO;
    let mut reads = 0;
    while !writer.is_finished() {
        let hw = p.high_watermark();
        for from in [hw - 1, 0] {
            let t0 = std::time::Instant::now();
            let data = reader::read_batches(&conn, p.db_id, from, hw, 1 << 20, true).unwrap();
            longest = longest.max(t0.elapsed());
            assert!(!data.is_empty());
            reads += 1;
        }
    }
    let groups = writer.join().unwrap();
    eprintln!("{groups} groups committed, {reads} reads, longest read {longest:?}");
    assert!(groups >= 5, "the writer was starved: {groups} groups");
    assert!(longest < std::time::Duration::from_secs(2), "{longest:?}");
}
