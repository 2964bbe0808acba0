//! Unit files: the schema, loading a directory with diagnostics, enablement.
pub mod enable;
pub mod load;
pub mod model;

pub use load::{load_dir, load_paths, Diagnostic, LoadResult, Severity};
pub use model::{EnvironmentFile, Output, RestartPolicy, UnitDef, UnitKind};
