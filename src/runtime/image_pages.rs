//! vigil's own program image in memory: the pages a long-running vigil keeps.
//!
//! A page fault on a file mapping reads ahead (128 KiB by default) and maps
//! the cached pages around the fault (64 KiB), and early boot and the loading
//! of the units run code the event loop never runs again: after the boot PID
//! 1 held 2.1 MiB of its 2.6 MB binary, against 0.2 MiB of heap and stack.
//! So once the start target is up, vigil asks the kernel to reclaim its
//! image's pages, as the kernel frees its own init code after boot, and tells
//! it that the image is read at random from then on (no read-ahead: a fault
//! reads and maps the page it needs, not the 64-128 KiB around it). The event
//! loop's pages fault back in from the page cache or the disk when they next
//! run (docs/benchmarks.md, "PID 1 VmRSS"). Boot itself keeps the read-ahead:
//! it runs most of the image, and reading it page by page would cost time.
//!
//! Only the read-only part of the image (rodata and text, from
//! `__executable_start` to `etext`) is advised: its pages are clean copies
//! of the file, so reclaiming or unmapping them loses nothing; the segments
//! that follow (relocated data, then the writable ones) are left alone.

extern "C" {
    /// Linker-defined: the first byte of the image and the end of its text.
    static __executable_start: u8;
    static etext: u8;
}

/// The page-aligned read-only part of the image, (address, length).
fn read_only_image() -> Option<(usize, usize)> {
    let start = std::ptr::addr_of!(__executable_start) as usize;
    let stop = std::ptr::addr_of!(etext) as usize;
    let page = 4096usize;
    let from = start & !(page - 1);
    let len = stop.saturating_sub(from);
    (len > 0).then_some((from, len))
}

fn advise(advice: libc::c_int) {
    if let Some((from, len)) = read_only_image() {
        // SAFETY: MADV_RANDOM, MADV_PAGEOUT and MADV_DONTNEED change no
        // memory contents here: the range is vigil's own read-only image, a
        // private file mapping never written (no text relocations), so its
        // pages are clean copies of the file, and a page reclaimed or
        // unmapped faults back in unchanged from the file. An error (an old
        // kernel that lacks MADV_PAGEOUT) only means the pages stay.
        unsafe {
            libc::madvise(from as *mut libc::c_void, len, advice);
        }
    }
}

/// Called once the start target is up: the boot's code pages go back, and
/// what runs later brings back only its own pages. MADV_PAGEOUT evicts what
/// the kernel can; MADV_DONTNEED then unmaps the rest from vigil (a kernel
/// whose page cache holds the image in large folios may keep them: 6.18
/// did, 1.7 MiB of them): the pages stay in the page cache, not in vigil,
/// and a later fault maps one of them back without reading the disk.
pub fn release_boot_pages() {
    advise(libc::MADV_RANDOM);
    advise(libc::MADV_PAGEOUT);
    advise(libc::MADV_DONTNEED);
}
