//! Hands freed heap memory back to the operating system.
//!
//! Each poll of a large fleet frees the previous poll's records and
//! verdicts: hundreds of thousands of small allocations spread over glibc's
//! per-thread arenas. glibc returns memory to the system only from the top
//! of a heap, so without a trim the resident size stays near the highest
//! it has ever been, which is what a container's memory limit and the
//! operator's dashboard see.

/// Malloc arenas at most, unless `MALLOC_ARENA_MAX` is set. glibc makes up
/// to eight per core, one for each thread that allocates while the others'
/// are busy; polls and renderings run on Tokio's worker and blocking
/// threads, so one poll's records end up spread over many arenas, and
/// pages freed in one cannot serve the next poll's allocations in another.
pub const MALLOC_ARENAS: i32 = 2;

/// Caps the number of malloc arenas (see [`MALLOC_ARENAS`]), before threads
/// start allocating: [`runtime`] calls it.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        // SAFETY: mallopt only sets a tunable of the allocator under its
        // own lock; it takes no pointer from us.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

/// Releases free pages of every malloc arena. Cheap next to a poll (it
/// walks the free lists once) and a no-op where the C library is not glibc.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only reads and updates the allocator's own
        // state under its locks; it takes no pointer from us.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// The multi-threaded Tokio runtime of the exporter's process, built after
/// [`limit_arenas`] so that its threads allocate under the cap.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    limit_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
