//! The pages' static files, under content-hashed names: cached for a year,
//! since a changed file is a new name.

use axum::extract::{Path, State};

use crate::ctx::Page;
use crate::error::UiError;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::UiState;

pub(crate) async fn serve(
    State(state): State<UiState>,
    Path(file): Path<String>,
    page: Page,
) -> Response {
    match state.0.templates.assets.get(&file) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body.clone(),
        )
            .into_response(),
        None => page.refusal(UiError::NotFound),
    }
}
