//! PLACEHOLDER-REPLACED-BELOW
use http::Method;

use super::{no_route, ApiContext, ApiRequest, ApiResult, Operation};
use crate::canonical::Problem;

pub fn operation(_method: &Method, segments: &[&str]) -> Result<Operation, Problem> {
    Err(no_route(&segments.join("/")))
}

pub async fn handle(_ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    Err(no_route(&req.segments.join("/")))
}
