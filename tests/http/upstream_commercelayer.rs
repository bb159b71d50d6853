//! Upstream commercelayer backend: adapter tests against the fake, and every caller dialect through the gateway.
