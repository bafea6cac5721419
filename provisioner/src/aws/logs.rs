//! CloudWatch Logs calls: the deployment's log group `/skiff/<name>` (found
//! by exact name, created tagged with a retention period, deleted only when
//! tagged as Skiff's) and reading the broker's lines back for `skiff logs`.
//! The instance writes into the group itself (Docker's awslogs driver, one
//! stream per container); nothing here writes log events.

use super::{api, tags, ApiError, Clients};
use std::collections::HashMap;

/// The deployment's log group as CloudWatch Logs has it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    pub name: String,
    /// Days; None = kept forever.
    pub retention_days: Option<i32>,
    /// Bytes stored (CloudWatch updates it with a delay).
    pub stored_bytes: i64,
    pub arn: String,
}

/// Log group `name`, if it exists.
pub async fn group(c: &Clients, name: &str) -> Result<Option<LogGroup>, ApiError> {
    let out = c
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(name)
        .limit(50)
        .send()
        .await
        .map_err(api("describe the log group"))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .map(|g| LogGroup {
            name: name.to_string(),
            retention_days: g.retention_in_days(),
            stored_bytes: g.stored_bytes().unwrap_or(0).max(0),
            arn: g
                .log_group_arn()
                .map(str::to_string)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
                .unwrap_or_default(),
        }))
}

/// Creates log group `name`, tagged for `deployment`.
pub async fn create_group(c: &Clients, deployment: &str, name: &str) -> Result<(), ApiError> {
    let mut req = c.logs().create_log_group().log_group_name(name);
    for t in tags::tags(deployment, Some("logs")) {
        req = req.tags(t.key().unwrap_or_default(), t.value().unwrap_or_default());
    }
    match req.send().await.map_err(api("create the log group")) {
        Err(e) if e.code_is("ResourceAlreadyExistsException") => Ok(()),
        r => r.map(|_| ()),
    }
}

pub async fn set_retention(c: &Clients, name: &str, days: u32) -> Result<(), ApiError> {
    c.logs()
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days as i32)
        .send()
        .await
        .map_err(api("set the log group's retention"))?;
    Ok(())
}

/// Is the group tagged as deployment `deployment`'s?
pub async fn is_ours(c: &Clients, deployment: &str, group: &LogGroup) -> Result<bool, ApiError> {
    let out = c
        .logs()
        .list_tags_for_resource()
        .resource_arn(&group.arn)
        .send()
        .await
        .map_err(api("read the log group's tags"))?;
    let t: &HashMap<String, String> = match out.tags() {
        Some(t) => t,
        None => return Ok(false),
    };
    Ok(
        t.get(tags::MANAGED_BY_KEY).map(String::as_str) == Some(tags::MANAGED_BY_VALUE)
            && t.get(tags::NAME_KEY).map(String::as_str) == Some(deployment),
    )
}

pub async fn delete_group(c: &Clients, name: &str) -> Result<(), ApiError> {
    match c
        .logs()
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
        .map_err(api("delete the log group"))
    {
        Err(e) if e.code_is("ResourceNotFoundException") => Ok(()),
        r => r.map(|_| ()),
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub message: String,
    pub event_id: String,
}

/// Longest message printed; longer ones are cut (a CloudWatch event may
/// hold 1 MB).
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Most pages read per call of [`lines`] (each up to 10,000 events or
/// 1 MB), so a huge group cannot keep `skiff logs` reading forever.
pub const MAX_PAGES: usize = 20;

/// What [`lines`] read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    /// The newest lines, oldest first.
    pub lines: Vec<Line>,
    /// Older lines left out to stay within the limit.
    pub older_left_out: usize,
    /// The page limit was reached: newer lines were not read.
    pub newer_not_read: bool,
}

/// The newest (at most `max`) events of group `name` from `start_ms`
/// (inclusive), oldest first.
pub async fn lines(c: &Clients, name: &str, start_ms: i64, max: usize) -> Result<Read, ApiError> {
    let max = max.max(1);
    let mut kept: std::collections::VecDeque<Line> = std::collections::VecDeque::new();
    let mut older_left_out = 0;
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .logs()
            .filter_log_events()
            .log_group_name(name)
            .start_time(start_ms)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(api("read the broker's log lines"))?;
        pages += 1;
        for e in out.events() {
            let mut message = e
                .message()
                .unwrap_or_default()
                .trim_end_matches('\n')
                .to_string();
            if message.len() > MAX_MESSAGE {
                let mut cut = MAX_MESSAGE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str(" [...]");
            }
            kept.push_back(Line {
                timestamp: e.timestamp().unwrap_or(0),
                message,
                event_id: e.event_id().unwrap_or_default().to_string(),
            });
            if kept.len() > max {
                kept.pop_front();
                older_left_out += 1;
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() || pages >= MAX_PAGES {
            break;
        }
    }
    let mut lines: Vec<Line> = kept.into();
    // Interleaved across streams, in time order.
    lines.sort_by(|a, b| (a.timestamp, &a.event_id).cmp(&(b.timestamp, &b.event_id)));
    Ok(Read {
        lines,
        older_left_out,
        newer_not_read: token.is_some(),
    })
}
