//! Spindle apps (work in progress).
