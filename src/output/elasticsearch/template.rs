//! The index template: ECS mappings and index settings as component templates, composed by one
//! index template over the output's index patterns. Installed at start and by `logpipe setup`;
//! every piece carries [`TEMPLATE_VERSION`] in `_meta` so a newer logpipe replaces it and an
//! older one leaves a newer one alone.

use elasticsearch::http::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::bulk::{Client, RequestError};
use super::config::ElasticsearchConfig;
use super::retention::{IndexPattern, RetentionPolicy};
use crate::telemetry;

/// Version of what [`install`] puts in the cluster; raise it whenever the templates change.
pub const TEMPLATE_VERSION: u64 = 3;
/// `_meta.managed_by` of everything logpipe installs.
pub const MANAGED_BY: &str = "logpipe";
/// Priority of the index template (above the built-in `logs-*-*` template of Elasticsearch).
pub const TEMPLATE_PRIORITY: u64 = 200;

#[derive(Debug, thiserror::Error)]
#[error("{what} {name}: {source}")]
pub struct InstallError {
    pub what: &'static str,
    pub name: String,
    #[source]
    pub source: RequestError,
}

impl InstallError {
    /// Worth trying again later (cluster unreachable or busy).
    pub fn retryable(&self) -> bool {
        self.source.retryable()
    }
}

/// Names of the pieces, from `template_name`.
pub fn mappings_name(config: &ElasticsearchConfig) -> String {
    format!("{}-ecs-mappings", config.template_name)
}

pub fn settings_name(config: &ElasticsearchConfig) -> String {
    format!("{}-settings", config.template_name)
}

/// Keyword fields GeoIP enrichment writes under each address it looks up.
const GEO_KEYWORD_FIELDS: &[&str] = &[
    "source.geo.country_iso_code",
    "source.geo.country_name",
    "source.geo.city_name",
    "source.geo.region_name",
    "source.geo.region_iso_code",
    "source.geo.continent_name",
    "source.geo.continent_code",
    "source.geo.timezone",
    "source.geo.postal_code",
    "source.as.organization.name",
    "destination.geo.country_iso_code",
    "destination.geo.country_name",
    "destination.geo.city_name",
    "destination.geo.region_name",
    "destination.geo.region_iso_code",
    "destination.geo.continent_name",
    "destination.geo.continent_code",
    "destination.geo.timezone",
    "destination.geo.postal_code",
    "destination.as.organization.name",
    "client.geo.country_iso_code",
    "client.geo.country_name",
    "client.geo.city_name",
    "client.geo.region_name",
    "client.geo.region_iso_code",
    "client.geo.continent_name",
    "client.geo.continent_code",
    "client.geo.timezone",
    "client.geo.postal_code",
    "client.as.organization.name",
];

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 1024})
}

/// Fields with a type of their own; every other string becomes a `keyword` through the
/// dynamic template.
fn ecs_fields() -> Vec<(&'static str, Value)> {
    let mut f: Vec<(&'static str, Value)> = Vec::new();
    for name in [
        "@timestamp",
        "event.created",
        "event.ingested",
        "event.start",
        "event.end",
    ] {
        f.push((name, json!({"type": "date"})));
    }
    f.push((
        "message",
        json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}}),
    ));
    f.push(("error.message", json!({"type": "text"})));
    // Structured data carries names chosen by every sender: one field in the mapping, not one
    // per SD-ID and parameter, or a hostile sender could blow the mapping up.
    f.push(("log.syslog.structured_data", json!({"type": "flattened"})));
    f.push(("log.syslog.version", json!({"type": "long"})));
    for name in [
        "source.ip",
        "destination.ip",
        "client.ip",
        "server.ip",
        "host.ip",
        "related.ip",
    ] {
        f.push((name, json!({"type": "ip"})));
    }
    // GeoIP enrichment writes the same set under each address it looks up.
    for name in [
        "source.geo.location",
        "destination.geo.location",
        "client.geo.location",
    ] {
        f.push((name, json!({"type": "geo_point"})));
    }
    for name in [
        "source.as.number",
        "destination.as.number",
        "client.as.number",
    ] {
        f.push((name, json!({"type": "long"})));
    }
    for name in GEO_KEYWORD_FIELDS {
        f.push((name, keyword()));
    }
    for name in [
        "http.response.status_code",
        "http.response.body.bytes",
        "http.response.bytes",
        "http.request.body.bytes",
        "http.request.bytes",
        "event.duration",
        "event.severity",
        "process.pid",
        "process.thread.id",
        "log.offset",
        "source.port",
        "destination.port",
        "client.port",
        "source.bytes",
        "log.syslog.priority",
        "log.syslog.facility.code",
        "log.syslog.severity.code",
        "nginx.error.connection_id",
    ] {
        f.push((name, json!({"type": "long"})));
    }
    for name in [
        "event.dataset",
        "event.category",
        "event.type",
        "event.outcome",
        "event.kind",
        "event.module",
        "event.action",
        "log.level",
        "log.logger",
        "log.file.path",
        "log.syslog.msgid",
        "log.syslog.facility.name",
        "log.syslog.severity.name",
        "http.request.method",
        "http.request.referrer",
        "http.version",
        "url.path",
        "url.query",
        "url.extension",
        "url.domain",
        "url.scheme",
        "host.name",
        "host.hostname",
        "user.name",
        "process.name",
        "source.address",
        "destination.address",
        "client.address",
        "error.type",
        "trace.id",
        "container.id",
        "container.name",
        "kubernetes.pod.name",
        "kubernetes.namespace",
        "tags",
        "postgresql.log.database",
        "postgresql.log.sql_state_code",
        "postgresql.log.session_id",
        "postgresql.log.query_step",
    ] {
        f.push((name, keyword()));
    }
    for name in [
        "url.original",
        "user_agent.original",
        "postgresql.log.query",
    ] {
        f.push((
            name,
            json!({"type": "keyword", "ignore_above": 1024, "fields": {"text": {"type": "text"}}}),
        ));
    }
    // Kept in _source for reprocessing, not searched.
    f.push((
        "event.original",
        json!({"type": "keyword", "index": false, "doc_values": false}),
    ));
    f
}

/// `{"properties": ...}` from dotted names.
fn nest(fields: &[(&str, Value)]) -> Value {
    let mut root = Map::new();
    for (name, mapping) in fields {
        insert_dotted(&mut root, name, mapping.clone());
    }
    Value::Object(root)
}

fn insert_dotted(props: &mut Map<String, Value>, name: &str, mapping: Value) {
    match name.split_once('.') {
        None => {
            props.insert(name.to_string(), mapping);
        }
        Some((head, rest)) => {
            let entry = props
                .entry(head.to_string())
                .or_insert_with(|| json!({"properties": {}}));
            if !entry.get("properties").is_some_and(Value::is_object) {
                *entry = json!({"properties": {}});
            }
            if let Some(inner) = entry.get_mut("properties").and_then(Value::as_object_mut) {
                insert_dotted(inner, rest, mapping);
            }
        }
    }
}

/// `body` with its `_meta`: the owner, [`TEMPLATE_VERSION`], and a hash of the rest of the
/// body, by which a piece already in the cluster is recognized as unchanged and not rewritten
/// (while a changed setting, such as `number_of_replicas`, is written at the same version).
fn with_meta(mut body: Value) -> Value {
    let hash = content_hash(&body);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "_meta".into(),
            json!({"managed_by": MANAGED_BY, "version": TEMPLATE_VERSION, "hash": hash}),
        );
    }
    body
}

fn content_hash(body: &Value) -> String {
    // Serializing a `Value` cannot fail; an empty hash would only mean "rewrite it".
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Component template with the ECS mappings.
pub fn mappings_component() -> Value {
    with_meta(json!({
        "template": {
            "mappings": {
                "date_detection": false,
                "dynamic_templates": [
                    {"strings_as_keyword": {
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "ignore_above": 1024}
                    }}
                ],
                "properties": nest(&ecs_fields())
            }
        },
        "version": TEMPLATE_VERSION
    }))
}

/// Component template with the index settings; `lifecycle` is the ILM policy the indices
/// get (only where the cluster has ILM: elsewhere the setting would be refused).
pub fn settings_component(config: &ElasticsearchConfig, lifecycle: Option<&str>) -> Value {
    let mut index = json!({
        "number_of_shards": 1,
        "number_of_replicas": config.number_of_replicas,
        "refresh_interval": config.refresh_interval
    });
    if let (Some(policy), Some(o)) = (lifecycle, index.as_object_mut()) {
        o.insert("lifecycle".into(), json!({"name": policy}));
    }
    with_meta(json!({
        "template": {"settings": {"index": index}},
        "version": TEMPLATE_VERSION
    }))
}

/// The composable index template.
pub fn index_template(config: &ElasticsearchConfig) -> Value {
    with_meta(json!({
        "index_patterns": config.resolved_index_patterns(),
        "composed_of": [mappings_name(config), settings_name(config)],
        "priority": TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION
    }))
}

/// Name of the ILM policy of the output (`dataset: None`) or of one dataset.
pub fn policy_name(config: &ElasticsearchConfig, dataset: Option<&str>) -> String {
    match dataset {
        None => format!("{}-retention", config.template_name),
        Some(d) => format!("{}-retention-{d}", config.template_name),
    }
}

/// Name of the index template of one dataset with a retention of its own.
pub fn dataset_template_name(config: &ElasticsearchConfig, dataset: &str) -> String {
    format!("{}-{dataset}", config.template_name)
}

/// ILM policy deleting an index `days` after its creation.
pub fn lifecycle_policy(days: u32) -> Value {
    let policy = with_meta(json!({
        "phases": {
            "delete": {"min_age": format!("{days}d"), "actions": {"delete": {}}}
        }
    }));
    json!({ "policy": policy })
}

/// The index template of one dataset: the same components, one priority higher than the main
/// template, and the dataset's own ILM policy.
pub fn dataset_index_template(config: &ElasticsearchConfig, pattern: &str, policy: &str) -> Value {
    with_meta(json!({
        "index_patterns": [pattern],
        "composed_of": [mappings_name(config), settings_name(config)],
        "priority": TEMPLATE_PRIORITY + 1,
        "template": {"settings": {"index": {"lifecycle": {"name": policy}}}},
        "version": TEMPLATE_VERSION
    }))
}

/// What is in the cluster under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Existing {
    Absent,
    /// Installed by logpipe, with this version and content hash.
    Ours {
        version: u64,
        hash: Option<String>,
    },
    /// Someone else's.
    Foreign,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    managed_by: Option<String>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    hash: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "_meta", default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct IndexTemplateEntry {
    index_template: Body,
}

#[derive(Deserialize)]
struct IndexTemplates {
    #[serde(default)]
    index_templates: Vec<IndexTemplateEntry>,
}

#[derive(Deserialize)]
struct ComponentTemplateEntry {
    component_template: Body,
}

#[derive(Deserialize)]
struct ComponentTemplates {
    #[serde(default)]
    component_templates: Vec<ComponentTemplateEntry>,
}

#[derive(Deserialize)]
struct PolicyEntry {
    policy: Body,
}

fn existing_of(meta: Option<Meta>) -> Existing {
    match meta {
        Some(Meta {
            managed_by: Some(by),
            version,
            hash,
        }) if by == MANAGED_BY => Existing::Ours {
            version: version.unwrap_or(0),
            hash,
        },
        _ => Existing::Foreign,
    }
}

/// The kinds of pieces `install` puts in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Component,
    Index,
    Policy,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Component => "component template",
            Kind::Index => "index template",
            Kind::Policy => "ILM policy",
        }
    }

    fn path(self, name: &str) -> String {
        match self {
            Kind::Component => format!("_component_template/{name}"),
            Kind::Index => format!("_index_template/{name}"),
            Kind::Policy => format!("_ilm/policy/{name}"),
        }
    }

    /// The hash in the `_meta` of a body we would put.
    fn hash_of(self, body: &Value) -> String {
        let meta = match self {
            Kind::Policy => &body["policy"]["_meta"],
            _ => &body["_meta"],
        };
        meta["hash"].as_str().unwrap_or_default().to_string()
    }
}

fn parse_existing(body: Option<&[u8]>, kind: Kind, name: &str) -> Existing {
    let Some(body) = body else {
        return Existing::Absent;
    };
    let meta = match kind {
        Kind::Component => serde_json::from_slice::<ComponentTemplates>(body)
            .ok()
            .map(|t| t.component_templates.into_iter().next())
            .map(|e| e.map(|e| e.component_template.meta)),
        Kind::Index => serde_json::from_slice::<IndexTemplates>(body)
            .ok()
            .map(|t| t.index_templates.into_iter().next())
            .map(|e| e.map(|e| e.index_template.meta)),
        Kind::Policy => {
            serde_json::from_slice::<std::collections::HashMap<String, PolicyEntry>>(body)
                .ok()
                .map(|mut m| m.remove(name).map(|e| e.policy.meta))
        }
    };
    match meta {
        None => Existing::Foreign,
        Some(None) => Existing::Absent,
        Some(Some(m)) => existing_of(m),
    }
}

async fn get_existing(client: &Client, kind: Kind, name: &str) -> Result<Existing, InstallError> {
    let body = client
        .json_request(Method::Get, &kind.path(name), None)
        .await
        .map_err(|source| InstallError {
            what: kind.what(),
            name: name.to_string(),
            source,
        })?;
    Ok(parse_existing(body.as_deref(), kind, name))
}

async fn put(client: &Client, kind: Kind, name: &str, body: &Value) -> Result<(), InstallError> {
    client
        .json_request(Method::Put, &kind.path(name), Some(body))
        .await
        .map_err(|source| InstallError {
            what: kind.what(),
            name: name.to_string(),
            source,
        })?;
    Ok(())
}

/// What to do with one piece, given what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Write it; the word for the line (`installed`, `upgraded`, `updated`).
    Put(&'static str),
    /// Ours, same version, same content: nothing to write.
    Unchanged,
    /// Newer, or not logpipe's: leave it.
    Keep,
}

fn decide(existing: &Existing, hash: &str) -> Action {
    match existing {
        Existing::Absent => Action::Put("installed"),
        Existing::Ours { version, .. } if *version < TEMPLATE_VERSION => Action::Put("upgraded"),
        Existing::Ours { version, hash: h }
            if *version == TEMPLATE_VERSION && h.as_deref() == Some(hash) && !hash.is_empty() =>
        {
            Action::Unchanged
        }
        Existing::Ours { version, .. } if *version == TEMPLATE_VERSION => Action::Put("updated"),
        Existing::Ours { .. } | Existing::Foreign => Action::Keep,
    }
}

fn kept_line(what: &str, name: &str, existing: &Existing) -> String {
    match existing {
        Existing::Ours { version: v, .. } => format!(
            "{what} {name}: version {v} from a newer logpipe is kept (ours is {TEMPLATE_VERSION})"
        ),
        _ => format!(
            "{what} {name}: exists and is not managed by logpipe; left unchanged (choose another `template_name` to install ours)"
        ),
    }
}

/// Puts one piece unless it is there already (or newer, or someone else's); one line on what
/// happened. `existing` is passed when the caller has read it already.
async fn install_piece(
    client: &Client,
    kind: Kind,
    name: &str,
    body: &Value,
    detail: &str,
    existing: Option<Existing>,
    lines: &mut Vec<String>,
) -> Result<(), InstallError> {
    let existing = match existing {
        Some(e) => e,
        None => get_existing(client, kind, name).await?,
    };
    let what = kind.what();
    match decide(&existing, &kind.hash_of(body)) {
        Action::Put(action) => {
            put(client, kind, name, body).await?;
            telemetry::template_installed(name, TEMPLATE_VERSION, action);
            lines.push(format!(
                "{what} {name}: {action} (version {TEMPLATE_VERSION}{detail})"
            ));
        }
        Action::Unchanged => {
            telemetry::template_installed(name, TEMPLATE_VERSION, "unchanged");
            lines.push(format!(
                "{what} {name}: up to date (version {TEMPLATE_VERSION}{detail}), unchanged"
            ));
        }
        Action::Keep => {
            let line = kept_line(what, name, &existing);
            telemetry::template_left_unchanged(name, &line);
            lines.push(line);
        }
    }
    Ok(())
}

/// Whether the cluster has index lifecycle management: `GET _ilm/status` answers with an
/// operation mode. Elasticsearch without it, OpenSearch and look-alikes answer `400`/`404`;
/// only a cluster that cannot be reached is an error.
pub async fn ilm_available(client: &Client) -> Result<bool, InstallError> {
    match client.json_request(Method::Get, "_ilm/status", None).await {
        Ok(Some(body)) => Ok(serde_json::from_slice::<Value>(&body)
            .ok()
            .is_some_and(|v| v.get("operation_mode").is_some())),
        Ok(None) => Ok(false),
        Err(e) if !e.retryable() => Ok(false),
        Err(source) => Err(InstallError {
            what: "ILM status",
            name: "_ilm/status".into(),
            source,
        }),
    }
}

/// What [`install_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// One line per piece, for `logpipe setup`.
    pub lines: Vec<String>,
    /// With retention configured: whether the cluster has ILM (and so deletes the indices
    /// itself). `None` without retention.
    pub ilm: Option<bool>,
}

/// Installs (or checks) the ILM policies (where there is ILM and retention is configured),
/// the component templates and the index template; one line per piece. When the index
/// template in the cluster is newer than ours or is not logpipe's, nothing is changed.
pub async fn install_all(
    client: &Client,
    config: &ElasticsearchConfig,
) -> Result<Installed, InstallError> {
    let mut lines = Vec::new();
    let index_name = config.template_name.clone();
    let index_body = index_template(config);
    let existing_index = get_existing(client, Kind::Index, &index_name).await?;
    let policy = RetentionPolicy::from_config(config);
    let ilm = if policy.is_configured() {
        Some(ilm_available(client).await?)
    } else {
        None
    };
    let by_logpipe = || {
        format!(
            "ILM not available: logpipe deletes indices past {} itself",
            policy.describe()
        )
    };
    if decide(&existing_index, &Kind::Index.hash_of(&index_body)) == Action::Keep {
        let line = kept_line("index template", &index_name, &existing_index);
        telemetry::template_left_unchanged(&index_name, &line);
        lines.push(line);
        if ilm == Some(false) {
            lines.push(by_logpipe());
        }
        return Ok(Installed { lines, ilm });
    }

    let mut lifecycle = None;
    if ilm == Some(true) {
        if let Some(days) = policy.default_days {
            let name = policy_name(config, None);
            let detail = format!(", delete {days} days after creation");
            let body = lifecycle_policy(days);
            install_piece(
                client,
                Kind::Policy,
                &name,
                &body,
                &detail,
                None,
                &mut lines,
            )
            .await?;
            lifecycle = Some(name);
        }
        for (dataset, days) in &policy.by_dataset {
            let name = policy_name(config, Some(dataset));
            let detail = format!(", delete {days} days after creation");
            let body = lifecycle_policy(*days);
            install_piece(
                client,
                Kind::Policy,
                &name,
                &body,
                &detail,
                None,
                &mut lines,
            )
            .await?;
        }
    }

    let components = [
        (mappings_name(config), mappings_component()),
        (
            settings_name(config),
            settings_component(config, lifecycle.as_deref()),
        ),
    ];
    for (name, body) in &components {
        install_piece(client, Kind::Component, name, body, "", None, &mut lines).await?;
    }
    let detail = format!(", patterns {}", config.resolved_index_patterns().join(","));
    install_piece(
        client,
        Kind::Index,
        &index_name,
        &index_body,
        &detail,
        Some(existing_index),
        &mut lines,
    )
    .await?;

    match ilm {
        Some(true) => {
            // Validation guarantees `{event.dataset}` in `index` when datasets are listed.
            let pattern = IndexPattern::compile(&config.index).ok();
            for dataset in policy.by_dataset.keys() {
                let Some(wildcard) = pattern
                    .as_ref()
                    .and_then(|p| p.wildcard_for_dataset(dataset))
                else {
                    continue;
                };
                let name = dataset_template_name(config, dataset);
                let body =
                    dataset_index_template(config, &wildcard, &policy_name(config, Some(dataset)));
                let detail = format!(", patterns {wildcard}");
                install_piece(client, Kind::Index, &name, &body, &detail, None, &mut lines).await?;
            }
        }
        Some(false) => lines.push(by_logpipe()),
        None => {}
    }
    Ok(Installed { lines, ilm })
}

/// [`install_all`], for its lines.
pub async fn install(
    client: &Client,
    config: &ElasticsearchConfig,
) -> Result<Vec<String>, InstallError> {
    Ok(install_all(client, config).await?.lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_have_ecs_types() {
        let m = mappings_component();
        let p = &m["template"]["mappings"]["properties"];
        assert_eq!(p["@timestamp"]["type"], "date");
        assert_eq!(p["message"]["type"], "text");
        assert_eq!(p["message"]["fields"]["keyword"]["type"], "keyword");
        assert_eq!(p["source"]["properties"]["ip"]["type"], "ip");
        assert_eq!(
            p["source"]["properties"]["geo"]["properties"]["location"]["type"],
            "geo_point"
        );
        assert_eq!(
            p["http"]["properties"]["response"]["properties"]["status_code"]["type"],
            "long"
        );
        assert_eq!(
            p["http"]["properties"]["response"]["properties"]["body"]["properties"]["bytes"]
                ["type"],
            "long"
        );
        assert_eq!(p["event"]["properties"]["dataset"]["type"], "keyword");
        assert_eq!(
            p["url"]["properties"]["original"]["fields"]["text"]["type"],
            "text"
        );
        assert_eq!(p["error"]["properties"]["message"]["type"], "text");
        assert_eq!(p["tags"]["type"], "keyword");
        assert_eq!(m["_meta"]["version"], TEMPLATE_VERSION);
        assert_eq!(
            m["template"]["mappings"]["dynamic_templates"][0]["strings_as_keyword"]["mapping"]
                ["ignore_above"],
            1024
        );
    }

    #[test]
    fn index_template_composes_both() {
        let c = ElasticsearchConfig::new("http://h:9200");
        let t = index_template(&c);
        assert_eq!(t["index_patterns"][0], "logs-*");
        assert_eq!(t["composed_of"][0], "logpipe-logs-ecs-mappings");
        assert_eq!(t["composed_of"][1], "logpipe-logs-settings");
        assert_eq!(t["priority"], 200);
        assert_eq!(t["_meta"]["managed_by"], "logpipe");
        let s = settings_component(&c, None);
        assert_eq!(s["template"]["settings"]["index"]["number_of_shards"], 1);
        assert_eq!(s["template"]["settings"]["index"]["refresh_interval"], "5s");
        assert!(s["template"]["settings"]["index"]
            .get("lifecycle")
            .is_none());
        let s = settings_component(&c, Some("logpipe-logs-retention"));
        assert_eq!(
            s["template"]["settings"]["index"]["lifecycle"]["name"],
            "logpipe-logs-retention"
        );
    }

    #[test]
    fn reads_existing_versions() {
        let ours = br#"{"index_templates":[{"name":"logs","index_template":{"_meta":{"managed_by":"logpipe","version":3,"hash":"ab"}}}]}"#;
        assert_eq!(
            parse_existing(Some(ours), Kind::Index, "logs"),
            Existing::Ours {
                version: 3,
                hash: Some("ab".into())
            }
        );
        let foreign =
            br#"{"index_templates":[{"name":"logs","index_template":{"index_patterns":["x"]}}]}"#;
        assert_eq!(
            parse_existing(Some(foreign), Kind::Index, "logs"),
            Existing::Foreign
        );
        assert_eq!(parse_existing(None, Kind::Index, "logs"), Existing::Absent);
        let comp = br#"{"component_templates":[{"name":"c","component_template":{"_meta":{"managed_by":"logpipe","version":1}}}]}"#;
        assert_eq!(
            parse_existing(Some(comp), Kind::Component, "c"),
            Existing::Ours {
                version: 1,
                hash: None
            }
        );
        let policy = br#"{"p":{"version":1,"modified_date":"x","policy":{"phases":{},"_meta":{"managed_by":"logpipe","version":2,"hash":"cd"}}}}"#;
        assert_eq!(
            parse_existing(Some(policy), Kind::Policy, "p"),
            Existing::Ours {
                version: 2,
                hash: Some("cd".into())
            }
        );
        let foreign_policy = br#"{"p":{"version":1,"policy":{"phases":{}}}}"#;
        assert_eq!(
            parse_existing(Some(foreign_policy), Kind::Policy, "p"),
            Existing::Foreign
        );

        let ours = |version, hash: &str| Existing::Ours {
            version,
            hash: Some(hash.into()),
        };
        assert_eq!(decide(&ours(TEMPLATE_VERSION, "h"), "h"), Action::Unchanged);
        assert_eq!(
            decide(&ours(TEMPLATE_VERSION, "old"), "h"),
            Action::Put("updated")
        );
        assert_eq!(
            decide(
                &Existing::Ours {
                    version: TEMPLATE_VERSION,
                    hash: None
                },
                "h"
            ),
            Action::Put("updated")
        );
        assert_eq!(decide(&ours(TEMPLATE_VERSION + 1, "h"), "h"), Action::Keep);
        assert_eq!(decide(&ours(0, "h"), "h"), Action::Put("upgraded"));
        assert_eq!(decide(&Existing::Foreign, "h"), Action::Keep);
        assert_eq!(decide(&Existing::Absent, "h"), Action::Put("installed"));
    }

    #[test]
    fn content_hash_follows_the_settings() {
        let mut c = ElasticsearchConfig::new("http://h:9200");
        let hash = |c: &ElasticsearchConfig| Kind::Index.hash_of(&index_template(c));
        let before = hash(&c);
        assert_eq!(before.len(), 16);
        assert_eq!(before, hash(&c.clone()));
        c.index_patterns = Some(vec!["other-*".into()]);
        assert_ne!(before, hash(&c));
        let s = |c: &ElasticsearchConfig, l| Kind::Component.hash_of(&settings_component(c, l));
        assert_ne!(s(&c, None), s(&c, Some("p")));
    }

    #[test]
    fn lifecycle_bodies() {
        let p = lifecycle_policy(30);
        assert_eq!(p["policy"]["phases"]["delete"]["min_age"], "30d");
        assert!(p["policy"]["phases"]["delete"]["actions"]["delete"].is_object());
        assert_eq!(p["policy"]["_meta"]["managed_by"], "logpipe");
        assert_eq!(Kind::Policy.hash_of(&p).len(), 16);
        assert_ne!(
            Kind::Policy.hash_of(&p),
            Kind::Policy.hash_of(&lifecycle_policy(31))
        );
        let c = ElasticsearchConfig::new("http://h:9200");
        assert_eq!(policy_name(&c, None), "logpipe-logs-retention");
        assert_eq!(
            policy_name(&c, Some("nginx.access")),
            "logpipe-logs-retention-nginx.access"
        );
        let t = dataset_index_template(&c, "logs-nginx.access-*.*.*", "pol");
        assert_eq!(t["index_patterns"][0], "logs-nginx.access-*.*.*");
        assert_eq!(t["priority"], TEMPLATE_PRIORITY + 1);
        assert_eq!(
            t["template"]["settings"]["index"]["lifecycle"]["name"],
            "pol"
        );
        assert_eq!(t["composed_of"], index_template(&c)["composed_of"]);
        assert_eq!(
            dataset_template_name(&c, "nginx.access"),
            "logpipe-logs-nginx.access"
        );
    }
}
