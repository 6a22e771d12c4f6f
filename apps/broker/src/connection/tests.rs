//! The connection driven in memory through the reactor's test doubles.
