//! `dfcsim run`'s CSV and rawfile written while the analyses run: a [`RowSink`] hands the
//! rows to a writer thread that formats both files as the rows arrive, so on a second core
//! the formatting overlaps the transient instead of following it. The files hold the same
//! bytes as [`super::write_all`] writes from the finished plots (the rawfile's
//! `No. Points:` is filled in when a plot ends), also when an analysis stops part-way.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::csv::CHUNK;
use super::{OutputError, csv, main_plot, raw};
use crate::waveform::{RowSink, Unit, Waveforms};

/// Values gathered before the rows are sent to the writer thread (about 64 KiB).
const BATCH_VALUES: usize = CHUNK / 8;

/// Runs `body` with a sink that writes `DIR/STEM.csv` and `DIR/STEM.raw` (binary unless
/// `ascii`) from a helper thread while `body` runs (in this thread when no thread can be
/// started). Unless `keep_rows`, the sink [keeps the rows](RowSink::keeps_rows): a
/// transient's rows then go to the files only (its result holds none; the point counts
/// are in [`FileWriter::points`]). Returns `body`'s result and the writer, whose
/// [`FileWriter::finish`] completes the files.
pub fn write_during<T>(
    dir: &Path,
    stem: &str,
    ascii: bool,
    keep_rows: bool,
    body: impl FnOnce(&mut dyn RowSink) -> T,
) -> (T, FileWriter) {
    // Bounded: on a slow disk the transient waits for the writer instead of queueing
    // every row in memory.
    let (tx, rx) = mpsc::sync_channel::<Msg>(16);
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<f64>>();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("dfcsim-output".into())
            .spawn_scoped(scope, move || {
                let mut files = FileWriter::new(dir, stem, ascii);
                for msg in rx {
                    match msg {
                        Msg::Begin(w) => files.begin(&w),
                        Msg::Rows(data) => {
                            files.rows(&data);
                            // Back for reuse; the sink may be gone already.
                            let _ = spare_tx.send(data);
                        }
                        Msg::End => files.end(),
                    }
                }
                files
            });
        match thread {
            Ok(handle) => {
                let mut sink = ChannelSink {
                    tx,
                    spare: spare_rx,
                    batch: Vec::new(),
                    keeps_rows: !keep_rows,
                };
                let out = body(&mut sink);
                sink.send_batch();
                drop(sink);
                let files = handle.join().unwrap_or_else(|_| {
                    let mut f = FileWriter::new(dir, stem, ascii);
                    f.fail(std::io::Error::other("output thread panicked"));
                    f
                });
                (out, files)
            }
            Err(_) => {
                let mut files = FileWriter::new(dir, stem, ascii);
                files.keeps_rows = !keep_rows;
                let out = body(&mut files);
                (out, files)
            }
        }
    })
}

enum Msg {
    /// A plot starts (title, plot name and signals; no rows).
    Begin(Waveforms),
    Rows(Vec<f64>),
    End,
}

/// The producer's side: batches rows into messages for the writer thread.
struct ChannelSink {
    tx: mpsc::SyncSender<Msg>,
    /// Batches the writer is done with.
    spare: mpsc::Receiver<Vec<f64>>,
    batch: Vec<f64>,
    keeps_rows: bool,
}

impl ChannelSink {
    fn send_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let capacity = self.batch.capacity();
        let mut next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(capacity));
        next.clear();
        let full = std::mem::replace(&mut self.batch, next);
        // A send fails only when the writer stopped, which it reports itself.
        let _ = self.tx.send(Msg::Rows(full));
    }
}

impl RowSink for ChannelSink {
    fn begin(&mut self, w: &Waveforms) {
        self.send_batch();
        let header = Waveforms::new(&w.title, &w.plot_name, w.signals.clone());
        let _ = self.tx.send(Msg::Begin(header));
    }

    fn rows(&mut self, data: &[f64]) {
        self.batch.extend_from_slice(data);
        if self.batch.len() >= BATCH_VALUES {
            self.send_batch();
        }
    }

    fn end(&mut self) {
        self.send_batch();
        let _ = self.tx.send(Msg::End);
    }

    fn keeps_rows(&self) -> bool {
        self.keeps_rows
    }
}

/// Writes a full chunk out (and empties it).
type Flush<'a> = dyn FnMut(&mut Vec<u8>) -> std::io::Result<()> + 'a;

/// One output file being written: bytes are gathered in `chunk` and written in pieces of
/// about [`CHUNK`] bytes.
struct OutFile {
    path: PathBuf,
    file: File,
    chunk: Vec<u8>,
    /// Bytes already in the file (before `chunk`).
    written: u64,
}

impl OutFile {
    fn create(path: PathBuf) -> Result<OutFile, OutputError> {
        let file = super::create_file(&path).map_err(|e| OutputError::io(&path, e))?;
        Ok(OutFile {
            path,
            file,
            chunk: Vec::with_capacity(2 * CHUNK),
            written: 0,
        })
    }

    /// Lets `push` append to the chunk, with a flush that writes a full chunk to the file;
    /// an error names the file.
    fn append(
        &mut self,
        push: impl FnOnce(&mut Vec<u8>, &mut Flush<'_>) -> std::io::Result<()>,
    ) -> Result<(), (PathBuf, std::io::Error)> {
        let mut chunk = std::mem::take(&mut self.chunk);
        let (file, written) = (&mut self.file, &mut self.written);
        let mut flush = |c: &mut Vec<u8>| {
            file.write_all(c)?;
            *written += c.len() as u64;
            c.clear();
            Ok(())
        };
        let res = push(&mut chunk, &mut flush);
        self.chunk = chunk;
        res.map_err(|e| (self.path.clone(), e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.write_all(&self.chunk)?;
        self.written += self.chunk.len() as u64;
        self.chunk.clear();
        Ok(())
    }

    /// Replaces the [`raw::POINTS_FIELD`] bytes at `offset` by the longer `text` (a point
    /// count of more than eight digits): the file is copied around it and reopened.
    fn widen(&mut self, offset: u64, text: &[u8]) -> std::io::Result<()> {
        use std::io::{BufReader, BufWriter, Read};
        self.flush()?;
        let tmp = self.path.with_extension("raw.tmp");
        {
            let mut src = BufReader::new(File::open(&self.path)?);
            let mut dst = BufWriter::new(File::create(&tmp)?);
            std::io::copy(&mut src.by_ref().take(offset), &mut dst)?;
            dst.write_all(text)?;
            src.seek_relative(raw::POINTS_FIELD as i64)?;
            std::io::copy(&mut src, &mut dst)?;
            dst.flush()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        self.file.seek(SeekFrom::End(0))?;
        self.written += (text.len() - raw::POINTS_FIELD) as u64;
        Ok(())
    }

    /// Overwrites `text` at byte `offset`, in the file or still in `chunk`.
    fn patch(&mut self, offset: u64, text: &[u8]) -> std::io::Result<()> {
        if offset >= self.written {
            let at = (offset - self.written) as usize;
            self.chunk[at..at + text.len()].copy_from_slice(text);
            return Ok(());
        }
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(text)?;
        self.file.seek(SeekFrom::End(0))?;
        Ok(())
    }
}

/// The plot being written.
struct Plot {
    width: usize,
    rows: usize,
    /// Offset of the `No. Points:` value in the rawfile.
    points_at: u64,
    /// Whether this plot is the CSV's.
    to_csv: bool,
}

/// Writes the CSV and the rawfile plot by plot, row batch by row batch. The CSV holds the
/// first time-based plot (see [`main_plot`]); [`FileWriter::finish`] writes it from the
/// finished plots when there is none (e.g. a lone `.op`). Files are created when the first
/// plot begins (a run that fails before any analysis writes none). The first error stops
/// the writing and is returned by `finish`.
pub struct FileWriter {
    dir: PathBuf,
    stem: String,
    ascii: bool,
    date: String,
    raw: Option<OutFile>,
    csv: Option<OutFile>,
    plot: Option<Plot>,
    /// Point count of each plot ended so far.
    points: Vec<usize>,
    /// See [`RowSink::keeps_rows`].
    keeps_rows: bool,
    error: Option<OutputError>,
}

impl FileWriter {
    pub fn new(dir: &Path, stem: &str, ascii: bool) -> FileWriter {
        FileWriter {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            ascii,
            date: raw::date_string(),
            raw: None,
            csv: None,
            plot: None,
            points: Vec::new(),
            keeps_rows: false,
            error: None,
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        if self.error.is_none() {
            let path = self.raw.as_ref().map_or(&self.dir, |f| &f.path);
            self.error = Some(OutputError::io(path, e));
        }
    }

    fn try_begin(&mut self, w: &Waveforms) -> Result<(), OutputError> {
        if self.raw.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(|e| OutputError::io(&self.dir, e))?;
            let path = self.dir.join(format!("{}.raw", self.stem));
            self.raw = Some(OutFile::create(path)?);
        }
        let raw_file = self.raw.as_mut().expect("created above");
        let points_at = raw_file.written
            + raw_file.chunk.len() as u64
            + raw::header_before_points(w, &self.date).len() as u64;
        raw::push_header(&mut raw_file.chunk, w, 0, self.ascii, &self.date);
        let to_csv = self.csv.is_none() && w.signals.first().is_some_and(|s| s.unit == Unit::Time);
        if to_csv {
            let mut f = OutFile::create(self.dir.join(format!("{}.csv", self.stem)))?;
            csv::push_header(&mut f.chunk, &w.signals);
            self.csv = Some(f);
        }
        self.plot = Some(Plot {
            width: w.width(),
            rows: 0,
            points_at,
            to_csv,
        });
        Ok(())
    }

    fn try_rows(&mut self, data: &[f64]) -> Result<(), (PathBuf, std::io::Error)> {
        let Some(plot) = &mut self.plot else {
            return Ok(());
        };
        let (width, first, ascii) = (plot.width, plot.rows, self.ascii);
        if let Some(f) = &mut self.raw {
            f.append(|c, flush| raw::push_values(c, width, first, data, ascii, &mut |b| flush(b)))?;
        }
        if plot.to_csv
            && let Some(f) = &mut self.csv
        {
            f.append(|c, flush| csv::push_data_rows(c, data, width, &mut |b| flush(b)))?;
        }
        plot.rows += data.len().checked_div(plot.width).unwrap_or(0);
        Ok(())
    }

    fn try_end(&mut self) -> Result<(), (PathBuf, std::io::Error)> {
        let (Some(plot), Some(f)) = (self.plot.take(), &mut self.raw) else {
            return Ok(());
        };
        self.points.push(plot.rows);
        let text = raw::points_text(plot.rows);
        let res = if text.len() == raw::POINTS_FIELD {
            f.patch(plot.points_at, text.as_bytes())
        } else {
            f.widen(plot.points_at, text.as_bytes())
        };
        res.map_err(|e| (f.path.clone(), e))
    }

    /// Point count of each plot ended so far (also of the rows not kept in memory).
    pub fn points(&self) -> &[usize] {
        &self.points
    }

    /// Completes the files; `plots` are the finished plots of the run (the same the sink
    /// was given). Returns the paths written (CSV first), none when no plot began.
    pub fn finish(mut self, plots: &[Waveforms]) -> Result<Vec<PathBuf>, OutputError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut written = Vec::new();
        if let Some(mut f) = self.csv.take() {
            f.flush().map_err(|e| OutputError::io(&f.path, e))?;
            written.push(f.path);
        } else if let Some(main) = main_plot(plots) {
            let path = self.dir.join(format!("{}.csv", self.stem));
            csv::write(&path, main)?;
            written.push(path);
        }
        if let Some(mut f) = self.raw.take() {
            f.flush().map_err(|e| OutputError::io(&f.path, e))?;
            written.push(f.path);
        }
        Ok(written)
    }
}

impl RowSink for FileWriter {
    fn begin(&mut self, w: &Waveforms) {
        if self.error.is_none()
            && let Err(e) = self.try_begin(w)
        {
            self.error = Some(e);
        }
    }

    fn rows(&mut self, data: &[f64]) {
        if self.error.is_none()
            && let Err((path, e)) = self.try_rows(data)
        {
            self.error = Some(OutputError::io(&path, e));
        }
    }

    fn end(&mut self) {
        if self.error.is_none()
            && let Err((path, e)) = self.try_end()
        {
            self.error = Some(OutputError::io(&path, e));
        }
    }

    fn keeps_rows(&self) -> bool {
        self.keeps_rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waveform::Signal;

    /// A point count longer than its field (ngspice's `%-8d` grows past 99,999,999): the
    /// file is rewritten around it, and a later plot's count is still filled in.
    #[test]
    fn point_count_longer_than_its_field_widens_the_header() {
        let dir = std::env::temp_dir().join(format!("dfcsim-widen-{}", std::process::id()));
        let signals = vec![
            Signal {
                name: "time".into(),
                unit: Unit::Time,
            },
            Signal {
                name: "v(a)".into(),
                unit: Unit::Voltage,
            },
        ];
        let mut w = Waveforms::new("widen", "Transient Analysis", signals);
        for k in 0..5000 {
            w.push_row(&[k as f64, -(k as f64)]);
        }
        let mut files = FileWriter::new(&dir, "big", false);
        let huge = 123_456_789;
        files.begin(&w);
        files.rows(&w.data);
        files.plot.as_mut().unwrap().rows = huge;
        files.end();
        files.begin(&w);
        files.rows(&w.data[..20]);
        files.end();
        assert_eq!(files.points(), [huge, 10]);
        let date = files.date.clone();
        let paths = files.finish(&[]).unwrap();
        let mut want = Vec::new();
        raw::push_header(&mut want, &w, huge, false, &date);
        want.extend(w.data.iter().flat_map(|v| v.to_le_bytes()));
        raw::push_header(&mut want, &w, 10, false, &date);
        want.extend(w.data[..20].iter().flat_map(|v| v.to_le_bytes()));
        assert_eq!(std::fs::read(&paths[1]).unwrap(), want);
        assert!(!dir.join("big.raw.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
