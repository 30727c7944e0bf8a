//! PNG/SVG plots of waveforms and training curves (plotters, embedded font).
