//! Unit files: the schema, loading a directory with diagnostics, enablement.
pub mod enable;
pub mod expand;
pub mod limits;
pub mod load;
pub mod model;
pub mod name;
pub mod scalar;
pub mod schema;
pub mod span;
pub mod suggest;
pub mod system_check;
pub mod template;
mod validate;

pub use load::{load_dir, load_dir_with, load_paths, parse_unit, Diagnostic, LoadResult, Severity};
pub use model::{
    Condition, EnvironmentFile, ExecCommand, KillMode, Output, RestartPolicy, UnitDef, UnitKind,
};
