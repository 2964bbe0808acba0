//! The imperative shell: file descriptors, syscalls and the event loop.
//! (Skeleton: runtime primitives come from the runtime helper.)
