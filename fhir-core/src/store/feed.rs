//! The committed writes of this process, kept in memory for the search index for a moment.
//!
//! The index follows the store's change sequence ([`super::ResourceStore::changes_all`]), which
//! reads every body back from the database: during a bulk load that is a second pass over every
//! resource through the database driver. The group-commit writer already has each committed
//! version in hand, so after a commit (and before it answers any caller) it appends them here,
//! in `seq` order. The index takes from here what directly follows what it has applied; a gap (a
//! write of another process on the same database, or entries dropped because nobody took them)
//! sends it back to `changes_all`. Only committed versions enter the feed and the sequence is
//! gap-free in commit order, so a run of consecutive `seq`s taken here is exactly what
//! `changes_all` would have returned.
//!
//! The feed keeps nothing until someone [`subscribes`](ChangeFeed::subscribe), and at most
//! [`MAX_BYTES`] of bodies (the oldest are dropped first).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StoredResource;

/// The most body bytes the feed keeps.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;
/// The most versions the feed keeps.
pub const MAX_VERSIONS: usize = 50_000;

#[derive(Debug, Default)]
struct Queue {
    versions: VecDeque<StoredResource>,
    bytes: usize,
}

/// Recently committed versions, in `seq` order.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    subscribed: AtomicBool,
    queue: Mutex<Queue>,
}

impl ChangeFeed {
    /// Starts keeping committed versions.
    pub fn subscribe(&self) {
        self.subscribed.store(true, Ordering::Release);
    }

    /// Appends committed versions (called by the writer after its commit).
    pub(crate) fn publish(&self, mut versions: Vec<StoredResource>) {
        if versions.is_empty() || !self.subscribed.load(Ordering::Acquire) {
            return;
        }
        versions.sort_unstable_by_key(|v| v.seq);
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        for version in versions {
            // Out of order (cannot happen with one writer): keep the queue increasing.
            if queue
                .versions
                .back()
                .is_some_and(|last| last.seq >= version.seq)
            {
                continue;
            }
            queue.bytes += version.body.len();
            queue.versions.push_back(version);
        }
        while queue.bytes > MAX_BYTES || queue.versions.len() > MAX_VERSIONS {
            let Some(dropped) = queue.versions.pop_front() else {
                break;
            };
            queue.bytes -= dropped.body.len();
        }
    }

    /// The versions directly following `after_seq` (`after_seq + 1`, `+ 2`, … without a gap), at
    /// most `limit`; empty when the feed does not hold `after_seq + 1`. Versions up to
    /// `after_seq` are forgotten.
    pub fn take_after(&self, after_seq: i64, limit: usize) -> Vec<StoredResource> {
        let Ok(mut queue) = self.queue.lock() else {
            return Vec::new();
        };
        while queue.versions.front().is_some_and(|v| v.seq <= after_seq) {
            if let Some(old) = queue.versions.pop_front() {
                queue.bytes -= old.body.len();
            }
        }
        let mut taken = Vec::new();
        let mut next = after_seq + 1;
        while taken.len() < limit && queue.versions.front().is_some_and(|v| v.seq == next) {
            if let Some(version) = queue.versions.pop_front() {
                queue.bytes -= version.body.len();
                taken.push(version);
                next += 1;
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(seq: i64) -> StoredResource {
        StoredResource {
            tenant: "t".into(),
            resource_type: "Patient".into(),
            id: seq.to_string(),
            version: 1,
            last_updated: 0,
            seq,
            deleted: false,
            body: "{}".into(),
        }
    }

    fn seqs(versions: &[StoredResource]) -> Vec<i64> {
        versions.iter().map(|v| v.seq).collect()
    }

    #[test]
    fn keeps_nothing_until_subscribed() {
        let feed = ChangeFeed::default();
        feed.publish(vec![version(1)]);
        assert!(feed.take_after(0, 10).is_empty());
        feed.subscribe();
        feed.publish(vec![version(2), version(3)]);
        assert!(feed.take_after(0, 10).is_empty(), "1 is missing: a gap");
        assert_eq!(seqs(&feed.take_after(1, 10)), [2, 3]);
    }

    #[test]
    fn takes_consecutive_versions_only() {
        let feed = ChangeFeed::default();
        feed.subscribe();
        feed.publish(vec![version(3), version(1), version(2), version(5)]);
        assert_eq!(seqs(&feed.take_after(0, 2)), [1, 2]);
        assert_eq!(seqs(&feed.take_after(2, 10)), [3], "4 is missing");
        assert!(feed.take_after(3, 10).is_empty());
        // 4 came from the database: 5 follows.
        assert_eq!(seqs(&feed.take_after(4, 10)), [5]);
        assert!(feed.take_after(5, 10).is_empty());
    }

    #[test]
    fn drops_the_oldest_beyond_its_limit() {
        let feed = ChangeFeed::default();
        feed.subscribe();
        feed.publish((1..=(MAX_VERSIONS as i64 + 5)).map(version).collect());
        assert!(feed.take_after(0, 10).is_empty());
        assert_eq!(seqs(&feed.take_after(5, 1)), [6]);
    }
}
