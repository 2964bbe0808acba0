//! Service output and vigil's own log on disk: the record format, line
//! framing, the per-unit files with size-based rotation and the bounded
//! in-memory ring that holds lines while the log directory is not
//! writable, and the reader vigilctl uses. The pipes themselves belong to
//! the shell (`runtime::capture`). See docs/logs.md.

pub mod clock;
pub mod read;
pub mod record;
pub mod size;
pub mod split;
pub mod store;
pub mod view;

/// The default directory of the log files (vigil.toml `log_dir`).
pub const DEFAULT_LOG_DIR: &str = "/var/log/vigil";

/// The name of vigil's own log (`vigil.log`); no unit may take it.
pub const OWN_LOG: &str = "vigil";
