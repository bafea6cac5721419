//! Allocator settings for a small machine (1 GiB t3.micro).
//!
//! Produce frames and fetch responses are ~1 MB buffers that live for
//! milliseconds. glibc's default raises its mmap threshold after such frees,
//! so later large buffers come from the heap and the memory is never given
//! back; with one arena per thread the heap multiplies. A fixed threshold
//! keeps large buffers in mmap (returned to the OS on free) and two arenas
//! bound fragmentation, so RSS falls back after load.

/// Applies the settings; call once at start-up, before threads are spawned.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}
