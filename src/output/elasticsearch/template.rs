//! The index template: ECS mappings and index settings as component templates, composed by one
//! index template over the output's index patterns. Installed at start and by `logpipe setup`;
//! every piece carries [`TEMPLATE_VERSION`] in `_meta` so a newer logpipe replaces it and an
//! older one leaves a newer one alone.

use elasticsearch::http::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::bulk::{Client, RequestError};
use super::config::ElasticsearchConfig;
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

fn meta() -> Value {
    json!({"managed_by": MANAGED_BY, "version": TEMPLATE_VERSION})
}

/// Component template with the ECS mappings.
pub fn mappings_component() -> Value {
    json!({
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
        "version": TEMPLATE_VERSION,
        "_meta": meta()
    })
}

/// Component template with the index settings.
pub fn settings_component(config: &ElasticsearchConfig) -> Value {
    json!({
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": 1,
                    "number_of_replicas": config.number_of_replicas,
                    "refresh_interval": config.refresh_interval
                }
            }
        },
        "version": TEMPLATE_VERSION,
        "_meta": meta()
    })
}

/// The composable index template.
pub fn index_template(config: &ElasticsearchConfig) -> Value {
    json!({
        "index_patterns": config.resolved_index_patterns(),
        "composed_of": [mappings_name(config), settings_name(config)],
        "priority": TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION,
        "_meta": meta()
    })
}

/// What is in the cluster under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Existing {
    Absent,
    /// Installed by logpipe, with this version.
    Ours(u64),
    /// Someone else's.
    Foreign,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    managed_by: Option<String>,
    #[serde(default)]
    version: Option<u64>,
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

fn existing_of(meta: Option<Meta>) -> Existing {
    match meta {
        Some(Meta {
            managed_by: Some(by),
            version,
        }) if by == MANAGED_BY => Existing::Ours(version.unwrap_or(0)),
        _ => Existing::Foreign,
    }
}

fn parse_existing(body: Option<&[u8]>, component: bool) -> Existing {
    let Some(body) = body else {
        return Existing::Absent;
    };
    let meta = if component {
        serde_json::from_slice::<ComponentTemplates>(body)
            .ok()
            .map(|t| t.component_templates.into_iter().next())
            .map(|e| e.map(|e| e.component_template.meta))
    } else {
        serde_json::from_slice::<IndexTemplates>(body)
            .ok()
            .map(|t| t.index_templates.into_iter().next())
            .map(|e| e.map(|e| e.index_template.meta))
    };
    match meta {
        None => Existing::Foreign,
        Some(None) => Existing::Absent,
        Some(Some(m)) => existing_of(m),
    }
}

async fn get_existing(
    client: &Client,
    what: &'static str,
    name: &str,
) -> Result<Existing, InstallError> {
    let component = what == "component template";
    let path = if component {
        format!("_component_template/{name}")
    } else {
        format!("_index_template/{name}")
    };
    let body = client
        .json_request(Method::Get, &path, None)
        .await
        .map_err(|source| InstallError {
            what,
            name: name.to_string(),
            source,
        })?;
    Ok(parse_existing(body.as_deref(), component))
}

async fn put(
    client: &Client,
    what: &'static str,
    name: &str,
    body: &Value,
) -> Result<(), InstallError> {
    let path = if what == "component template" {
        format!("_component_template/{name}")
    } else {
        format!("_index_template/{name}")
    };
    client
        .json_request(Method::Put, &path, Some(body))
        .await
        .map_err(|source| InstallError {
            what,
            name: name.to_string(),
            source,
        })?;
    Ok(())
}

/// What to do with one piece, given what is there.
fn decide(existing: &Existing) -> Option<&'static str> {
    match existing {
        Existing::Absent => Some("installed"),
        Existing::Ours(v) if *v < TEMPLATE_VERSION => Some("upgraded"),
        Existing::Ours(v) if *v == TEMPLATE_VERSION => Some("up to date"),
        Existing::Ours(_) | Existing::Foreign => None,
    }
}

fn kept_line(what: &str, name: &str, existing: &Existing) -> String {
    match existing {
        Existing::Ours(v) => format!(
            "{what} {name}: version {v} from a newer logpipe is kept (ours is {TEMPLATE_VERSION})"
        ),
        _ => format!(
            "{what} {name}: exists and is not managed by logpipe; left unchanged (choose another `template_name` to install ours)"
        ),
    }
}

/// Installs (or checks) the component templates and the index template; one line per piece.
/// When the index template in the cluster is newer than ours or is not logpipe's, nothing is
/// changed.
pub async fn install(
    client: &Client,
    config: &ElasticsearchConfig,
) -> Result<Vec<String>, InstallError> {
    let mut lines = Vec::new();
    let index_name = config.template_name.clone();
    let existing_index = get_existing(client, "index template", &index_name).await?;
    if decide(&existing_index).is_none() {
        let line = kept_line("index template", &index_name, &existing_index);
        telemetry::template_left_unchanged(&index_name, &line);
        lines.push(line);
        return Ok(lines);
    }

    let components = [
        (mappings_name(config), mappings_component()),
        (settings_name(config), settings_component(config)),
    ];
    for (name, body) in &components {
        let existing = get_existing(client, "component template", name).await?;
        match decide(&existing) {
            Some(action) => {
                put(client, "component template", name, body).await?;
                telemetry::template_installed(name, TEMPLATE_VERSION, action);
                lines.push(format!(
                    "component template {name}: {action} (version {TEMPLATE_VERSION})"
                ));
            }
            None => {
                let line = kept_line("component template", name, &existing);
                telemetry::template_left_unchanged(name, &line);
                lines.push(line);
            }
        }
    }

    let action = decide(&existing_index).unwrap_or("installed");
    put(
        client,
        "index template",
        &index_name,
        &index_template(config),
    )
    .await?;
    telemetry::template_installed(&index_name, TEMPLATE_VERSION, action);
    lines.push(format!(
        "index template {index_name}: {action} (version {TEMPLATE_VERSION}, patterns {})",
        config.resolved_index_patterns().join(",")
    ));
    Ok(lines)
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
        let s = settings_component(&c);
        assert_eq!(s["template"]["settings"]["index"]["number_of_shards"], 1);
        assert_eq!(s["template"]["settings"]["index"]["refresh_interval"], "5s");
    }

    #[test]
    fn reads_existing_versions() {
        let ours = br#"{"index_templates":[{"name":"logs","index_template":{"_meta":{"managed_by":"logpipe","version":3}}}]}"#;
        assert_eq!(parse_existing(Some(ours), false), Existing::Ours(3));
        let foreign =
            br#"{"index_templates":[{"name":"logs","index_template":{"index_patterns":["x"]}}]}"#;
        assert_eq!(parse_existing(Some(foreign), false), Existing::Foreign);
        assert_eq!(parse_existing(None, false), Existing::Absent);
        let comp = br#"{"component_templates":[{"name":"c","component_template":{"_meta":{"managed_by":"logpipe","version":1}}}]}"#;
        assert_eq!(parse_existing(Some(comp), true), Existing::Ours(1));
        assert_eq!(
            decide(&Existing::Ours(TEMPLATE_VERSION)),
            Some("up to date")
        );
        assert_eq!(decide(&Existing::Ours(TEMPLATE_VERSION + 1)), None);
        assert_eq!(decide(&Existing::Ours(0)), Some("upgraded"));
        assert_eq!(decide(&Existing::Foreign), None);
        assert_eq!(decide(&Existing::Absent), Some("installed"));
    }
}
