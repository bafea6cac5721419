//! Allocator settings for a small machine (1 GiB t3.micro).
//!
//! Produce frames and fetch responses are ~1 MB buffers that live for
//! milliseconds. Serving them from the heap (not a fresh mmap each, which
//! costs a page fault per 4 KiB: measured at +50% broker CPU per MB) is what
//! keeps CPU per MB low; two arenas instead of one per thread bound how much
//! heap that takes, and a periodic `malloc_trim` hands freed heap back to the
//! OS so RSS falls back after a burst.

/// Applies the settings; call once at start-up, before threads are spawned.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    }
}

/// Every `period` until `shutdown` is cancelled, returns freed heap memory
/// to the OS. On an idle broker this is one cheap call per period.
pub(crate) async fn trim_periodically(
    period: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim is thread-safe and only releases free memory.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
