//! Query strings as clients send them: percent-encoded or literal brackets, commas and colons alike
//! (`page%5Bsize%5D=5` and `page[size]=5` are the same parameter).

use crate::canonical::{Problem, ProblemKind};

/// Decoded `name=value` pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        QueryParams(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The last value of `name` (later parameters override earlier ones, as PHP and Rails read them).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, and of `name[]` (PHP-style arrays), with comma-separated values split.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let array = format!("{name}[]");
        self.0
            .iter()
            .filter(|(k, _)| *k == name || *k == array)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A positive integer parameter within `1..=max`, or `default` when absent.
    pub fn positive(&self, name: &str, default: u32, max: u32) -> Result<u32, Problem> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(invalid(
                    name,
                    &format!("must be an integer from 1 to {max}"),
                )),
            },
        }
    }

    /// An unsigned integer parameter.
    pub fn unsigned(&self, name: &str) -> Result<Option<u64>, Problem> {
        self.get(name)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<u64>()
                    .map_err(|_| invalid(name, "must be a non-negative integer"))
            })
            .transpose()
    }
}

/// A 400 for a bad query parameter, named as a parameter (`Problem::parameter`), not with a pointer into a
/// document the request does not have.
pub fn invalid(name: &str, why: &str) -> Problem {
    Problem::in_parameter(
        ProblemKind::InvalidParameter,
        name,
        format!("query parameter {name} {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_and_literal_brackets_are_the_same() {
        let q = QueryParams::parse(Some(
            "page%5Bsize%5D=5&filter[q][status_eq]=placed&include=line_items%2Cmarket&sort=date_created%3Adesc",
        ));
        assert_eq!(q.get("page[size]"), Some("5"));
        assert_eq!(q.get("filter[q][status_eq]"), Some("placed"));
        assert_eq!(q.all("include"), ["line_items", "market"]);
        assert_eq!(q.get("sort"), Some("date_created:desc"));
    }

    #[test]
    fn bounds_are_checked() {
        let q = QueryParams::parse(Some("per_page=0&page=2&limit=x"));
        assert!(q.positive("per_page", 10, 200).is_err());
        assert_eq!(q.positive("page", 1, u32::MAX).unwrap(), 2);
        assert!(q.positive("limit", 50, 250).is_err());
        assert_eq!(q.positive("absent", 7, 10).unwrap(), 7);
    }
}
