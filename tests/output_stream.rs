//! Files written while the analyses run (`output::stream`) hold the same bytes as
//! `output::write_all` writes from the finished plots, also when a transient stops
//! part-way.

use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::output::{self, raw, stream};
use dfcsim::waveform::{Signal, Unit, Waveforms};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfcsim-stream-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sig(name: &str, unit: Unit) -> Signal {
    Signal {
        name: name.into(),
        unit,
    }
}

/// The `Date:` text of a rawfile (the only bytes that depend on when it was written).
fn date_of(raw_bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&raw_bytes[..raw_bytes.len().min(4096)]);
    let line = text.lines().find(|l| l.starts_with("Date: ")).unwrap();
    line["Date: ".len()..].to_string()
}

/// Checks the streamed files against what `write_all` writes for `plots`.
fn assert_same_files(paths: &[PathBuf], plots: &[Waveforms], ascii: bool) {
    let reference_dir = paths[0].parent().unwrap().join("reference");
    let reference = output::write_all(&reference_dir, "ref", plots, ascii).unwrap();
    assert_eq!(paths.len(), 2);
    assert_eq!(
        std::fs::read(&paths[0]).unwrap(),
        std::fs::read(&reference[0]).unwrap(),
        "CSV"
    );
    let streamed = std::fs::read(&paths[1]).unwrap();
    assert_eq!(
        streamed,
        raw::to_bytes(plots, ascii, &date_of(&streamed)),
        "rawfile"
    );
}

/// An `.op` plot, a transient with values that stress both formats, and a second
/// transient (which the CSV leaves out).
fn sample_plots() -> Vec<Waveforms> {
    let mut op = Waveforms::new(
        "stream: op + tran",
        "Operating Point",
        vec![sig("v(in)", Unit::Voltage), sig("i(v1)", Unit::Current)],
    );
    op.push_row(&[0.1 + 0.2, -6.666666666666667e-5]);
    let signals = vec![
        sig("time", Unit::Time),
        sig("v(in)", Unit::Voltage),
        sig("i(v1)", Unit::Current),
    ];
    let mut tran = Waveforms::new("stream: op + tran", "Transient Analysis", signals.clone());
    for k in 0..3000 {
        let t = k as f64 * 1e-7;
        tran.push_row(&[t, (t * 1e4).sin() * 1e7, -1e-300 / (k as f64 + 0.5)]);
    }
    let mut second = Waveforms::new("stream: op + tran", "Transient Analysis", signals);
    second.push_row(&[0.0, 1.0, f64::NAN]);
    vec![op, tran, second]
}

/// Feeds `plots` to the sink in uneven batches of rows.
fn feed(sink: &mut dyn dfcsim::waveform::RowSink, plots: &[Waveforms]) {
    for w in plots {
        sink.begin(w);
        let mut start = 0;
        let mut step = 1;
        while start < w.rows() {
            let end = (start + step).min(w.rows());
            sink.rows(&w.data[start * w.width()..end * w.width()]);
            start = end;
            step = step * 3 % 97 + 1;
        }
        sink.end();
    }
}

#[test]
fn streamed_files_equal_write_all_binary_and_ascii() {
    let dir = temp_dir("formats");
    let plots = sample_plots();
    for ascii in [false, true] {
        let out = dir.join(if ascii { "ascii" } else { "binary" });
        let ((), files) =
            stream::write_during(&out, "net", ascii, ascii, |sink| feed(sink, &plots));
        let points: Vec<usize> = plots.iter().map(Waveforms::rows).collect();
        assert_eq!(files.points(), points);
        let paths = files.finish(&plots).unwrap();
        assert_eq!(paths, [out.join("net.csv"), out.join("net.raw")]);
        assert_same_files(&paths, &plots, ascii);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn streamed_files_without_transient_or_without_plots() {
    let dir = temp_dir("op-only");
    let plots = sample_plots();
    // Only `.op`: the CSV (written at the end) holds its single row.
    let ((), files) =
        stream::write_during(&dir, "op", false, false, |sink| feed(sink, &plots[..1]));
    let paths = files.finish(&plots[..1]).unwrap();
    assert_same_files(&paths, &plots[..1], false);
    // A transient that stopped before its first point: the CSV is its header alone.
    let mut stopped = plots.clone();
    stopped[1].data.clear();
    let ((), files) =
        stream::write_during(&dir, "stopped", true, true, |sink| feed(sink, &stopped));
    let paths = files.finish(&stopped).unwrap();
    assert_eq!(
        std::fs::read_to_string(&paths[0]).unwrap(),
        "time,v(in),i(v1)\n"
    );
    assert_same_files(&paths, &stopped, true);
    // No plot at all (the circuit failed to build): no files.
    let ((), files) = stream::write_during(&dir, "none", false, false, |_| ());
    assert!(files.finish(&[]).unwrap().is_empty());
    assert!(!dir.join("none.raw").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unwritable_directory_is_an_error_naming_it() {
    let dir = temp_dir("unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let plots = sample_plots();
    let out = blocker.join("sub");
    let ((), files) = stream::write_during(&out, "net", false, false, |sink| feed(sink, &plots));
    let err = files.finish(&plots).unwrap_err().to_string();
    assert!(err.contains("sub"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `dfcsim run` on a circuit whose transient fails part-way: non-zero exit, and the files
/// hold the `.op` and the transient up to the failure, as `write_all` writes them.
#[test]
fn run_writes_partial_transient_when_it_fails() {
    let dir = temp_dir("partial");
    let netlist = dir.join("chatter.cir");
    // A 10 mA sink that switches on above 0.5 V, fed by a ramp through 1 kΩ: no
    // consistent solution once the node reaches 0.5 V (about half-way).
    std::fs::write(
        &netlist,
        "chattering sink\nv1 in 0 PWL(0 0 1m 1)\nr1 in n 1k\nb1 n 0 I={1e-2*u(v(n)-0.5)}\n\
         .op\n.tran 10u 1m\n.end\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .args(["run", "-q", "-o"])
        .arg(&out_dir)
        .arg(&netlist)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waveforms up to the failure written"),
        "{stderr}"
    );
    let circuit = dfcsim::elaborate::load(Path::new(&netlist)).unwrap();
    let outcome = dfcsim::engine::simulate(&circuit);
    assert!(outcome.error.is_some());
    let plots: Vec<Waveforms> = outcome.results.into_iter().map(|r| r.waveforms).collect();
    assert_eq!(plots.len(), 2);
    assert!(plots[1].rows() > 10, "{}", plots[1].rows());
    let paths = [out_dir.join("chatter.csv"), out_dir.join("chatter.raw")];
    assert_same_files(&paths, &plots, false);
    // The summary counts the points written (the run kept none in memory).
    let summary = std::fs::read_to_string(out_dir.join("chatter.summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    for (a, w) in summary["analyses"].as_array().unwrap().iter().zip(&plots) {
        assert_eq!(a["points"].as_u64(), Some(w.rows() as u64));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With `.options interp` the transient's rows are only known at its end (resampled onto
/// the tstep grid): `dfcsim run` writes those, not the accepted steps.
#[test]
fn run_with_interp_writes_the_resampled_grid() {
    let dir = temp_dir("interp");
    let netlist = dir.join("rc_interp.cir");
    std::fs::write(
        &netlist,
        "rc interp\n.options interp\nv1 in 0 PULSE(0 1 100u 1n 1n 10m 20m)\nr1 in out 1k\n\
         c1 out 0 100n\n.tran 7u 1m\n.end\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .args(["run", "-q", "--ascii", "-o"])
        .arg(&out_dir)
        .arg(&netlist)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let circuit = dfcsim::elaborate::load(Path::new(&netlist)).unwrap();
    let outcome = dfcsim::engine::simulate(&circuit);
    let plots: Vec<Waveforms> = outcome.results.into_iter().map(|r| r.waveforms).collect();
    // The tstep grid 0, 7 us, …, 994 us.
    assert_eq!(plots[0].rows(), 143);
    assert_eq!(plots[0].row(142)[0], 142.0 * 7e-6);
    let paths = [out_dir.join("rc_interp.csv"), out_dir.join("rc_interp.raw")];
    assert_same_files(&paths, &plots, true);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An existing output with a second hard link is rewritten in place (both names see the
/// new contents); a plain one is replaced. Either way the file holds the new output.
#[cfg(unix)]
#[test]
fn existing_outputs_are_replaced_or_rewritten_in_place() {
    let dir = temp_dir("links");
    let plots = sample_plots();
    let first = output::write_all(&dir, "net", &plots, false).unwrap();
    let (csv_path, raw_path) = (&first[0], &first[1]);
    let other = dir.join("other.csv");
    std::fs::remove_file(&other).ok();
    std::fs::hard_link(csv_path, &other).unwrap();
    std::fs::write(csv_path, b"old").unwrap();
    std::fs::write(raw_path, b"old").unwrap();
    let again = output::write_all(&dir, "net", &plots, false).unwrap();
    let new_csv = std::fs::read(&again[0]).unwrap();
    assert_ne!(new_csv, b"old");
    assert_eq!(std::fs::read(&other).unwrap(), new_csv, "hard link split");
    assert_ne!(std::fs::read(&again[1]).unwrap(), b"old");
    std::fs::remove_dir_all(&dir).ok();
}
