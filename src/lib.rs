//! Spindle facade.
