//! The busy handler of every connection. With a rollback journal a reader
//! and the committing writer exclude each other: the writer needs the file
//! to itself from the moment it syncs the journal until its commit is
//! durable, and cannot begin that while a read is open. Either side that
//! finds the other there waits here and tries again. SQLite's default
//! handler (rusqlite sets it up with a 5 s timeout) sleeps 1, 2, 5, ... up
//! to 100 ms between tries, so a fetch arriving during a 1 ms commit could
//! wait 100 ms; this one sleeps in short steps, so the wait ends within a
//! fraction of a millisecond of the lock being free.

use std::time::Duration;

use rusqlite::Connection;

/// Tries while waiting: after `FAST` tries of `FAST_PAUSE` (1 ms in all),
/// `SLOW` tries of `SLOW_PAUSE` (about 30 s in all) before SQLITE_BUSY is
/// returned. Commits and reads are bounded (a group holds at most 4 MiB of
/// records, a read at most one fetch's bytes), so the limit is reached only
/// when something holds the file far beyond them, such as a long
/// `skiff-broker backup`.
const FAST: i32 = 20;
const FAST_PAUSE: Duration = Duration::from_micros(50);
const SLOW: i32 = 120_000;
const SLOW_PAUSE: Duration = Duration::from_micros(250);

fn wait(tries: i32) -> bool {
    if tries < FAST {
        std::thread::sleep(FAST_PAUSE);
        true
    } else if tries < FAST + SLOW {
        std::thread::sleep(SLOW_PAUSE);
        true
    } else {
        false
    }
}

/// Replaces the connection's busy handler with `wait`.
pub fn install(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait))
}
