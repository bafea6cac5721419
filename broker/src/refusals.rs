//! The WARN line for a request refused by one of the broker's limits, rate
//! limited per limit: the first refusal of a limit is logged at once, with
//! the client's address; further refusals of that limit within
//! `INTERVAL` are only counted, and the next line logged says how many were
//! left out. A client hammering a limit therefore costs one line per limit
//! every `INTERVAL`, not one per request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

/// At most one line per limit this often.
const INTERVAL: Duration = Duration::from_secs(10);

/// Per limit name: when its last line was logged and how many refusals were
/// left out since.
static LAST: Mutex<Option<HashMap<&'static str, (Instant, u64)>>> = Mutex::new(None);

/// Logs (rate limited) that `limit` refused a request of `peer` (None when
/// the refusal has no client, as for auto-creation), with `detail`.
pub fn refused(limit: &'static str, peer: Option<SocketAddr>, detail: &str) {
    let now = Instant::now();
    let suppressed = {
        let mut guard = LAST.lock().expect("refusal log lock");
        let table = guard.get_or_insert_with(HashMap::new);
        match table.get_mut(limit) {
            Some((last, skipped)) if now.duration_since(*last) < INTERVAL => {
                *skipped += 1;
                return;
            }
            Some((last, skipped)) => {
                *last = now;
                std::mem::take(skipped)
            }
            None => {
                table.insert(limit, (now, 0));
                0
            }
        }
    };
    let client = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
    warn!(limit, client = %client, suppressed, "{detail}");
}
