//! Output formats: CSV, ngspice rawfile (binary and ascii, write and read), JSON summary.
