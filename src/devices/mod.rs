//! Circuit devices: each knows its pins, its matrix positions and its stamps.
