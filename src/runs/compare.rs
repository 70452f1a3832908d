//! Runs side by side: configuration and metrics as rows, one column per run, differences marked.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::RunFile;

#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    /// Dotted key: `model.config.factors`, `test.ndcg@10`, ….
    pub key: String,
    /// One value per run; `None` where a run lacks the key.
    pub values: Vec<Option<String>>,
    /// Whether the runs disagree on this row.
    pub differs: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub run_ids: Vec<String>,
    pub rows: Vec<ComparisonRow>,
}

/// Compares runs: settings first (model, its config, dataset, protocol, seed, device), then
/// validation and test metrics, then timings. Numbers are shown with 4 decimals.
pub fn compare(runs: &[RunFile]) -> Comparison {
    let flattened: Vec<Vec<(String, String)>> = runs.iter().map(flatten_run).collect();
    let mut order: Vec<String> = Vec::new();
    for run in &flattened {
        for (key, _) in run {
            if !order.contains(key) {
                order.push(key.clone());
            }
        }
    }
    let lookups: Vec<BTreeMap<&str, &str>> = flattened
        .iter()
        .map(|run| run.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .collect();
    let rows = order
        .into_iter()
        .map(|key| {
            let values: Vec<Option<String>> = lookups
                .iter()
                .map(|l| l.get(key.as_str()).map(|v| v.to_string()))
                .collect();
            let differs = values.windows(2).any(|w| w[0] != w[1]);
            ComparisonRow {
                key,
                values,
                differs,
            }
        })
        .collect();
    Comparison {
        run_ids: runs.iter().map(|r| r.run_id.clone()).collect(),
        rows,
    }
}

fn flatten_run(run: &RunFile) -> Vec<(String, String)> {
    let mut out = vec![("model".to_string(), run.model.name.clone())];
    flatten_json("model.config", &run.model.config, &mut out);
    // Serialising plain data structs cannot fail.
    let dataset = serde_json::to_value(&run.dataset).unwrap_or_default();
    flatten_json("dataset", &dataset, &mut out);
    out.push(("protocol".into(), run.protocol.clone()));
    out.push(("seed".into(), run.seed.to_string()));
    out.push(("device".into(), run.environment.device.clone()));
    out.push(("status".into(), format!("{:?}", run.status).to_lowercase()));
    for (prefix, metrics) in [
        ("valid", &run.valid_metrics),
        ("test", &run.test_metrics),
        ("time_secs", &run.timings_secs),
    ] {
        for (name, value) in metrics {
            out.push((format!("{prefix}.{name}"), format!("{value:.4}")));
        }
    }
    out
}

fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                flatten_json(&format!("{prefix}.{key}"), inner, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Null => out.push((prefix.to_string(), "-".to_string())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

impl Comparison {
    /// A plain-text table; rows where runs differ start with `*`.
    pub fn to_table(&self) -> String {
        let key_width = self
            .rows
            .iter()
            .map(|r| r.key.len())
            .max()
            .unwrap_or(3)
            .max(3);
        let widths: Vec<usize> = (0..self.run_ids.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.values[c].as_deref().unwrap_or("-").len())
                    .chain([self.run_ids[c].len()])
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        let mut out = String::new();
        let _ = write!(out, "  {:key_width$}", "key");
        for (id, w) in self.run_ids.iter().zip(&widths) {
            let _ = write!(out, "  {id:w$}");
        }
        out.push('\n');
        for row in &self.rows {
            let mark = if row.differs { '*' } else { ' ' };
            let _ = write!(out, "{mark} {:key_width$}", row.key);
            for (value, w) in row.values.iter().zip(&widths) {
                let _ = write!(out, "  {:w$}", value.as_deref().unwrap_or("-"));
            }
            out.push('\n');
        }
        out
    }
}
