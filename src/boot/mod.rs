//! Early-boot steps run when vigil is PID 1. (Skeleton: the boot helper fills this in.)
