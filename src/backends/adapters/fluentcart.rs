//! FluentCart upstream adapter (skeleton: replaced by the real adapter).

use super::{AdapterContext, Journal, Stamp};
use crate::backends::transport::UpstreamError;
use crate::canonical::lifecycle::Transition;
use crate::canonical::{Order, OrderQuery, Page, Problem, ProblemKind};

#[derive(Debug)]
pub struct FluentCartAdapter {
    ctx: AdapterContext,
}

fn unsupported() -> UpstreamError {
    UpstreamError::Unsupported(Problem::new(ProblemKind::Internal, "", "not built yet"))
}

impl FluentCartAdapter {
    pub fn new(ctx: AdapterContext) -> Result<Self, String> {
        Ok(FluentCartAdapter { ctx })
    }

    pub async fn create(
        &self,
        order: &Order,
        stamp: &Stamp,
        journal: &Journal,
    ) -> Result<Order, UpstreamError> {
        let _ = (order, stamp, journal, &self.ctx);
        Err(unsupported())
    }

    pub async fn find_by_stamp(&self, stamp: &Stamp) -> Result<Option<Order>, UpstreamError> {
        let _ = stamp;
        Err(unsupported())
    }

    pub async fn get(&self, upstream_id: &str) -> Result<Order, UpstreamError> {
        let _ = upstream_id;
        Err(unsupported())
    }

    pub async fn list(&self, query: &OrderQuery) -> Result<Page<Order>, UpstreamError> {
        let _ = query;
        Err(unsupported())
    }

    pub async fn update(&self, before: &Order, after: &Order) -> Result<Order, UpstreamError> {
        let _ = (before, after);
        Err(unsupported())
    }

    pub async fn transition(
        &self,
        before: &Order,
        transition: &Transition,
        after: &Order,
    ) -> Result<Order, UpstreamError> {
        let _ = (before, transition, after);
        Err(unsupported())
    }

    pub async fn delete(&self, upstream_id: &str) -> Result<(), UpstreamError> {
        let _ = upstream_id;
        Err(unsupported())
    }
}
