//! Issue 4, acceptance 6: container logs in the kubelet layout (CRI with partial lines, Docker
//! json-file) and `.gz` archives through `logpipe run`, into the right documents.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use serde_json::Value;

const ID: &str = "4f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";

#[test]
fn kubelet_layout_and_gz_archives() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir
        .path()
        .join("pods/shop_web-7d4b9c-x2x_5f1c2d3e-0000-4000-8000-0123456789ab/nginx");
    let containers = dir.path().join("containers");
    let archive = dir.path().join("archive");
    for d in [&pods, &containers, &archive] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The kubelet writes CRI lines under /var/log/pods and links them from /var/log/containers.
    std::fs::copy(
        repo_root().join("fixtures/containers/cri-nginx.log"),
        pods.join("0.log"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        pods.join("0.log"),
        containers.join(format!("web-7d4b9c-x2x_shop_nginx-{ID}.log")),
    )
    .unwrap();
    // A Docker json-file log next to it.
    let docker_dir = dir.path().join("docker").join(ID);
    std::fs::create_dir_all(&docker_dir).unwrap();
    std::fs::copy(
        repo_root().join("fixtures/containers/docker-nginx.log"),
        docker_dir.join(format!("{ID}-json.log")),
    )
    .unwrap();
    // A compressed archive of plain access lines.
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(archive.join("access.log.1.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(nginx_line(3, "Mar", 2031, 1, 2, 3, 1).as_bytes())
        .unwrap();
    gz.write_all(nginx_line(3, "Mar", 2031, 1, 2, 4, 2).trim_end().as_bytes())
        .unwrap();
    gz.finish().unwrap();

    let out = dir.path().join("out.ndjson");
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[inputs]]
type = "container"
paths = ["{containers}/*.log", "{docker}/*/*-json.log"]
parser = "nginx_access"
poll_interval_ms = 20

[[inputs]]
type = "file"
paths = ["{archive}/*.gz"]
parser = "nginx_access"

[output.file]
path = "{out}"
"#,
            containers = containers.display(),
            docker = dir.path().join("docker").display(),
            archive = archive.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let mut run = Running::start(&cfg, &dir.path().join("data"), &dir.path().join("run.log"));
    let docs = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    // CRI: 4 lines + 1 non-CRI line; Docker: 4 lines; archive: 2 lines.
    let ok = run.wait_until(Duration::from_secs(30), || docs().len() >= 11);
    assert!(ok, "{:#?}\n{}", docs(), run.log_text());
    run.signal(libc::SIGTERM);
    assert!(run
        .wait_exit(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let docs = docs();
    assert_eq!(docs.len(), 11);

    let cri: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kubernetes"]["pod"]["name"] == "web-7d4b9c-x2x")
        .collect();
    assert_eq!(cri.len(), 5, "{cri:#?}");
    for d in &cri {
        assert_eq!(d["kubernetes"]["namespace"], "shop");
        assert_eq!(d["container"]["name"], "nginx");
        assert_eq!(d["container"]["id"], ID);
    }
    let long = cri
        .iter()
        .find(|d| d["url"]["original"].as_str().is_some_and(|u| u.len() > 300));
    assert!(long.is_some(), "partial CRI lines reassembled: {cri:#?}");
    assert!(cri.iter().any(|d| d["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "_envelope_failure"))));

    let docker: Vec<&Value> = docs
        .iter()
        .filter(|d| d["container"]["id"] == ID && d["kubernetes"].is_null())
        .collect();
    assert_eq!(docker.len(), 4, "{docker:#?}");
    assert!(docker.iter().any(|d| d["stream"] == "stderr"));

    let archived: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["log"]["file"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(".gz"))
        })
        .collect();
    assert_eq!(
        archived.len(),
        2,
        "the last line of an archive needs no newline"
    );
    assert!(archived.iter().all(|d| d["@timestamp"]
        .as_str()
        .is_some_and(|t| t.starts_with("2031-03-03T01:02:0"))));
}
