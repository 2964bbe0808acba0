//! What differs per unit type (simple, notify, forking, oneshot, target):
//! one home for those rules, in the spirit of dinit's per-class services.
