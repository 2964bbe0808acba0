//! Per-service state machine. (Skeleton.)
