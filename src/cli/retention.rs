//! `logpipe retention -c FILE [--dry-run]`: lists the output's indices with their date and the
//! retention decision, and deletes those past `retention_days` (none with `--dry-run`, and
//! none where the cluster has ILM, whose policy does the deleting). Only names that parse
//! under the output's index name templates are ever deleted.

use crate::config::PipelineConfig;
use crate::output::elasticsearch::bulk::Client;
use crate::output::elasticsearch::retention::{self, Retention};
use crate::output::elasticsearch::template;

use super::{runtime, EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME};

pub fn run(config: PipelineConfig, dry_run: bool) -> anyhow::Result<i32> {
    let path = config.path.display().to_string();
    let Some(es) = config.output.elasticsearch.as_ref() else {
        eprintln!("error: {path}: `logpipe retention` needs an `[output.elasticsearch]` table");
        return Ok(EXIT_CONFIG);
    };
    let plan = match Retention::new(es, &config.tag.routes()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return Ok(EXIT_CONFIG);
        }
    };
    let client = match Client::new(es) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return Ok(EXIT_CONFIG);
        }
    };
    runtime()?.block_on(async {
        let mut dry_run = dry_run;
        if !plan.is_configured() {
            println!(
                "no retention configured (`retention_days`, `retention_days_by_dataset`): every index is kept"
            );
            dry_run = true;
        } else if template::ilm_available(&client).await? {
            println!(
                "ILM is available at {}: the policy {} deletes indices past {} (installed by `logpipe setup` and `logpipe run`); nothing is deleted here",
                client.url(),
                template::policy_name(es, None),
                plan.policy().describe()
            );
            dry_run = true;
        } else {
            println!(
                "retention {} at {}{}",
                plan.policy().describe(),
                client.url(),
                if dry_run { " (dry run: nothing is deleted)" } else { "" }
            );
        }
        let report = retention::run_pass(&client, &plan, retention::today_utc(), dry_run).await?;
        for v in &report.verdicts {
            let word = match (dry_run, v.deletes()) {
                (false, true) if report.deleted.contains(&v.index) => "deleted",
                (false, true) => "delete failed",
                _ => "delete",
            };
            println!("{}", v.line(word));
        }
        let planned = report.verdicts.iter().filter(|v| v.deletes()).count();
        let kept = report.verdicts.len() - planned;
        if dry_run {
            println!(
                "{} indices: {planned} past retention, {kept} kept",
                report.verdicts.len()
            );
        } else {
            println!(
                "{} indices: {} deleted, {} failed, {kept} kept",
                report.verdicts.len(),
                report.deleted.len(),
                report.failed.len()
            );
        }
        for (index, e) in &report.failed {
            eprintln!("error: deleting {index}: {e}");
        }
        Ok(if report.failed.is_empty() {
            EXIT_OK
        } else {
            EXIT_RUNTIME
        })
    })
}
