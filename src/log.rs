//! Logging sink: stderr (and /dev/kmsg + console when PID 1).
//! (Skeleton; the event loop owner fills this in.)
