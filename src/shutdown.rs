//! Final shutdown steps after services are stopped. (Skeleton.)
