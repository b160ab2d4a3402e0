//! `GET /availability/{sku}` and `GET /availability?skus=a,b,c`: availability for storefronts
//! that are not on Kafka, served from the same published view the availability topic carries.
//! Both take optional `channel=WEB` and `location=<id>` filters.
//!
//! The view itself belongs to the pipeline; this module only needs an [`AvailabilityLookup`].

use std::sync::Arc;

use allot_schemas::{Availability, Channel};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

/// The most skus one batch request may ask for.
pub const MAX_BATCH: usize = 1_000;

/// Read access to the latest published availability per sku.
pub trait AvailabilityLookup: Send + Sync + 'static {
    /// The last availability published for `sku`, if any.
    fn get(&self, sku: &str) -> Option<Availability>;
}

/// Optional filters of both routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Comma-separated skus (batch route only).
    pub skus: Option<String>,
    /// Only this channel (`WEB`, `APP`, `CALL_CENTER`, `STORE`, `MARKETPLACE`).
    pub channel: Option<String>,
    /// Only this location (the network figures stay).
    pub location: Option<String>,
}

/// The availability routes over `lookup`.
pub fn availability_router(lookup: Arc<dyn AvailabilityLookup>) -> Router {
    Router::new()
        .route("/availability", get(batch))
        .route("/availability/{sku}", get(one))
        .with_state(lookup)
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// The channel filter, or the message saying what is wrong with it.
fn parse_channel(filter: &Filter) -> Result<Option<Channel>, String> {
    let Some(name) = &filter.channel else {
        return Ok(None);
    };
    serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase()))
        .map(Some)
        .map_err(|_| {
            format!(
                "unknown channel {name:?}; use one of WEB, APP, CALL_CENTER, STORE, MARKETPLACE"
            )
        })
}

/// Keeps only the asked channel and location.
fn filtered(mut a: Availability, channel: Option<Channel>, location: Option<&str>) -> Availability {
    if let Some(c) = channel {
        a.channels.retain(|ch| ch.channel == c);
    }
    if let Some(l) = location {
        for ch in &mut a.channels {
            ch.locations.retain(|x| x.location_id == l);
        }
    }
    a
}

async fn one(
    State(lookup): State<Arc<dyn AvailabilityLookup>>,
    Path(sku): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    let channel = match parse_channel(&filter) {
        Ok(c) => c,
        Err(message) => return bad_request(message),
    };
    match lookup.get(&sku) {
        Some(a) => Json(filtered(a, channel, filter.location.as_deref())).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "error": format!("no availability published for sku {sku:?}"),
            })),
        )
            .into_response(),
    }
}

async fn batch(
    State(lookup): State<Arc<dyn AvailabilityLookup>>,
    Query(filter): Query<Filter>,
) -> Response {
    let channel = match parse_channel(&filter) {
        Ok(c) => c,
        Err(message) => return bad_request(message),
    };
    let Some(skus) = filter.skus.as_deref().filter(|s| !s.is_empty()) else {
        return bad_request("give the skus as ?skus=a,b,c".into());
    };
    let skus: Vec<&str> = skus
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if skus.len() > MAX_BATCH {
        return bad_request(format!(
            "{} skus asked; at most {MAX_BATCH} per request",
            skus.len()
        ));
    }
    let mut found = Vec::with_capacity(skus.len());
    let mut unknown = Vec::new();
    for sku in skus {
        match lookup.get(sku) {
            Some(a) => found.push(filtered(a, channel, filter.location.as_deref())),
            None => unknown.push(sku.to_owned()),
        }
    }
    Json(serde_json::json!({ "availability": found, "unknown": unknown })).into_response()
}
