//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7643
//! §5-7): what this service supports, as the suites and IdPs read it.

use serde_json::{Value, json};

use crate::directory::Role;
use crate::path::{CORE_GROUP, CORE_USER, GLADLY_USER};

/// The most resources one list answer holds.
pub const MAX_RESULTS: usize = 1000;

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://example.invalid/gladly-connector#scim-20",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "Authorization: Bearer <GLADLY_SCIM_TOKEN>",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A Gladly agent",
            "schema": CORE_USER,
            "schemaExtensions": [{"schema": GLADLY_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A Gladly team, or an inbox or a role by name (Gladly inbox: …, Gladly role: …)",
            "schema": CORE_GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

fn attr(name: &str, kind: &str, mutability: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name, "type": kind, "multiValued": false, "required": false,
        "caseExact": false, "mutability": mutability, "returned": "default", "uniqueness": "none",
    });
    if let (Value::Object(a), Value::Object(extra)) = (&mut a, extra) {
        a.extend(extra);
    }
    a
}

fn roles() -> Vec<String> {
    Role::SETTABLE.iter().map(Role::scim_name).collect()
}

/// Languages published as `canonicalValues`: Gladly takes any BCP 47 tag;
/// these are the ones a test suite picks from.
const LANGUAGES: [&str; 6] = ["en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "ja-JP"];

pub fn schemas(base: &str) -> Vec<Value> {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": CORE_USER, "name": "User", "description": "A Gladly agent",
        "attributes": [
            attr("userName", "string", "readWrite", json!({"required": true, "uniqueness": "server",
                "description": "The agent's login e-mail address (matched case-insensitively)"})),
            attr("name", "complex", "readWrite", json!({"subAttributes": [
                attr("formatted", "string", "readWrite", json!({})),
                attr("givenName", "string", "readWrite", json!({"description": "The name up to its first space"})),
                attr("familyName", "string", "readWrite", json!({"description": "The name after its first space"})),
            ]})),
            attr("displayName", "string", "readWrite", json!({"description": "Gladly's name"})),
            attr("emails", "complex", "readOnly", json!({"multiValued": true,
                "description": "Derived from userName",
                "subAttributes": [
                    attr("value", "string", "readOnly", json!({})),
                    attr("type", "string", "readOnly", json!({"canonicalValues": ["work"]})),
                    attr("primary", "boolean", "readOnly", json!({})),
                ]})),
            attr("active", "boolean", "readWrite", json!({"description": "false deactivates the agent (Gladly has no hard delete)"})),
            attr("externalId", "string", "readWrite", json!({"caseExact": true})),
            attr("phoneNumbers", "complex", "readWrite", json!({"multiValued": true, "subAttributes": [
                attr("value", "string", "readWrite", json!({})),
                attr("type", "string", "readWrite", json!({"canonicalValues": ["work", "mobile"]})),
            ]})),
            attr("preferredLanguage", "string", "readWrite", json!({"canonicalValues": LANGUAGES})),
            attr("locale", "string", "readWrite", json!({"canonicalValues": LANGUAGES})),
            attr("roles", "complex", "readWrite", json!({"multiValued": true, "subAttributes": [
                attr("value", "string", "readWrite", json!({"canonicalValues": roles()})),
                attr("primary", "boolean", "readWrite", json!({})),
            ]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_USER}")},
    });
    let gladly = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GLADLY_USER, "name": "GladlyUser", "description": "Gladly's agent fields SCIM has no name for",
        "attributes": [attr("role", "string", "readWrite", json!({"canonicalValues": roles(),
            "description": "The agent's Gladly role, any case; agent when not given"}))],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GLADLY_USER}")},
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": CORE_GROUP, "name": "Group", "description": "A Gladly team, inbox or role",
        "attributes": [
            attr("displayName", "string", "immutable", json!({"required": true,
                "description": "The team's name, or Gladly inbox: <name>, or Gladly role: <role>"})),
            attr("members", "complex", "readWrite", json!({"multiValued": true, "subAttributes": [
                attr("value", "string", "immutable", json!({})),
                attr("display", "string", "readOnly", json!({})),
                attr("type", "string", "immutable", json!({"canonicalValues": ["User"]})),
                attr("$ref", "reference", "immutable", json!({"referenceTypes": ["User"]})),
            ]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_GROUP}")},
    });
    vec![user, gladly, group]
}
