//! JSON summary of a run (`DIR/NAME.summary.json`); the caller defines the content.

use std::path::{Path, PathBuf};

use super::OutputError;

/// Writes `summary` pretty-printed to `DIR/NAME.summary.json` (creating `dir`) and returns
/// the path. Non-finite floats become `null` (JSON has no NaN).
pub fn write_summary<T: serde::Serialize + ?Sized>(
    dir: &Path,
    name: &str,
    summary: &T,
) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError::io(dir, e))?;
    let path = dir.join(format!("{name}.summary.json"));
    let mut text = serde_json::to_string_pretty(summary).map_err(|source| OutputError::Json {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    super::create_file(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| OutputError::io(&path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Stats {
        accepted_steps: u64,
        reltol: f64,
        method: &'static str,
    }

    #[test]
    fn writes_pretty_json_that_reads_back() {
        let dir = std::env::temp_dir().join(format!("dfcsim-summary-{}", std::process::id()));
        let s = Stats {
            accepted_steps: 42,
            reltol: 1e-3,
            method: "trap",
        };
        let path = write_summary(&dir, "rc", &s).unwrap();
        assert_eq!(path, dir.join("rc.summary.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n  \"accepted_steps\": 42"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["reltol"].as_f64(), Some(1e-3));
        assert_eq!(v["method"], "trap");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
