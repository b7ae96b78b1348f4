//! `type = "container"`: container logs as the kubelet and Docker leave them on a node.
//!
//! A file input underneath (rotation, checkpoints, bounded descriptors all come from there),
//! with two differences: the envelope is detected per line (`envelope = "auto"` unless set), and
//! each file's path gives the Kubernetes and container fields of its records:
//! - `/var/log/containers/POD_NAMESPACE_CONTAINER-ID.log` (the kubelet's symlinks; their target
//!   is the same file as below, so a glob matching both reads it once);
//! - `/var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log`;
//! - `/var/lib/docker/containers/ID/ID-json.log` (plain Docker).

use std::path::Path;
use std::sync::Arc;

use serde::de::IntoDeserializer;
use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::file::{FileInput, FileInputConfig};
use super::{Input, InputConfig, InputError, InputRegistration};
use crate::parse::envelope::EnvelopeKind;

pub const REGISTRATION: InputRegistration = InputRegistration {
    kind: "container",
    parse,
};

/// Where the kubelet keeps container logs.
pub const DEFAULT_PATHS: &[&str] = &["/var/log/containers/*.log"];

/// Same keys as the `file` input; `paths` defaults to [`DEFAULT_PATHS`].
#[derive(Debug, Clone)]
pub struct ContainerInputConfig {
    pub file: FileInputConfig,
}

fn parse(value: Spanned<DeValue<'_>>) -> Result<Box<dyn InputConfig>, toml::de::Error> {
    let mut file = FileInputConfig::deserialize(value.into_deserializer())?;
    if file.paths.is_empty() {
        file.paths = DEFAULT_PATHS.iter().map(|p| p.to_string()).collect();
    }
    Ok(Box::new(ContainerInputConfig { file }))
}

impl InputConfig for ContainerInputConfig {
    fn validate(&self) -> Result<(), String> {
        self.file.validate()
    }

    fn build(&self) -> Result<Box<dyn Input>, InputError> {
        Ok(Box::new(FileInput {
            config: self.file.clone(),
            path_fields: Some(container_fields),
        }))
    }

    fn default_envelope(&self) -> Option<EnvelopeKind> {
        Some(EnvelopeKind::Auto)
    }

    fn file_source(&self) -> Option<super::file::FileSource> {
        Some(super::file::FileSource {
            paths: self.file.paths.clone(),
            exclude: self.file.exclude.clone(),
            path_fields: Some(container_fields),
        })
    }
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Kubernetes and container fields from a log file's path; empty when the layout is unknown.
pub fn container_fields(path: &Path) -> Vec<(&'static str, Arc<str>)> {
    let mut out: Vec<(&'static str, Arc<str>)> = Vec::new();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = path.parent();
    let parent_name = parent
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let grandparent_name = parent
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");

    // /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log
    if let Some(stem) = name.strip_suffix(".log") {
        if let Some((rest, id)) = stem.rsplit_once('-') {
            let parts: Vec<&str> = rest.splitn(3, '_').collect();
            if is_container_id(id) && parts.len() == 3 && parts.iter().all(|p| !p.is_empty()) {
                out.push(("kubernetes.pod.name", Arc::from(parts[0])));
                out.push(("kubernetes.namespace", Arc::from(parts[1])));
                out.push(("container.name", Arc::from(parts[2])));
                out.push(("container.id", Arc::from(id)));
                return out;
            }
        }
    }
    // /var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log
    let pod_parts: Vec<&str> = grandparent_name.splitn(3, '_').collect();
    if name.ends_with(".log")
        && pod_parts.len() == 3
        && pod_parts.iter().all(|p| !p.is_empty())
        && !parent_name.is_empty()
    {
        out.push(("kubernetes.namespace", Arc::from(pod_parts[0])));
        out.push(("kubernetes.pod.name", Arc::from(pod_parts[1])));
        out.push(("kubernetes.pod.uid", Arc::from(pod_parts[2])));
        out.push(("container.name", Arc::from(parent_name)));
        return out;
    }
    // /var/lib/docker/containers/ID/ID-json.log
    if is_container_id(parent_name) && name.starts_with(parent_name) && name.ends_with("-json.log")
    {
        out.push(("container.id", Arc::from(parent_name)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(p: &str) -> Vec<(&'static str, String)> {
        container_fields(Path::new(p))
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn kubelet_symlink_layout() {
        let f = fields(&format!(
            "/var/log/containers/web-7d4b9c-x2x_shop_nginx-{ID}.log"
        ));
        assert_eq!(
            f,
            vec![
                ("kubernetes.pod.name", "web-7d4b9c-x2x".to_string()),
                ("kubernetes.namespace", "shop".to_string()),
                ("container.name", "nginx".to_string()),
                ("container.id", ID.to_string()),
            ]
        );
    }

    #[test]
    fn pods_layout_and_docker_layout() {
        let f = fields(
            "/var/log/pods/shop_web-7d4b9c-x2x_5f1c2d3e-aaaa-bbbb-cccc-0123456789ab/nginx/0.log",
        );
        assert!(f.contains(&("kubernetes.namespace", "shop".to_string())));
        assert!(f.contains(&("kubernetes.pod.name", "web-7d4b9c-x2x".to_string())));
        assert!(f.contains(&("container.name", "nginx".to_string())));
        let f = fields(&format!("/var/lib/docker/containers/{ID}/{ID}-json.log"));
        assert_eq!(f, vec![("container.id", ID.to_string())]);
        assert!(fields("/var/log/nginx/access.log").is_empty());
    }

    #[test]
    fn defaults_to_kubelet_paths_and_auto_envelope() {
        let table = toml::de::DeTable::parse("start_at = \"end\"").unwrap();
        let value = Spanned::new(table.span(), DeValue::Table(table.into_inner()));
        let cfg = parse(value).unwrap();
        assert_eq!(cfg.default_envelope(), Some(EnvelopeKind::Auto));
        assert!(cfg.validate().is_ok());
    }
}
