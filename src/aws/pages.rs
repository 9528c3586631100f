//! Paging through a listing without trusting the `NextToken`s it hands back.
//!
//! The SDK's paginators end a listing silently when a token repeats, so a
//! service that hands back the same token twice would leave the listing
//! truncated and the target reporting up. A listing that goes round, or runs
//! past what the service can hold, is an invalid answer: the target goes
//! down with `reason="invalid_response"` rather than report part of it.

use std::collections::HashSet;

use super::SourceError;

/// The tokens one listing has been given so far.
#[derive(Debug)]
pub struct Pages {
    operation: &'static str,
    max_pages: usize,
    pages: usize,
    /// Every token seen, not only the last: a token that comes back after
    /// others (A, B, A) goes round just the same. At most `max_pages` long.
    seen: HashSet<String>,
}

impl Pages {
    /// A listing by `operation` of at most `max_pages` pages.
    pub fn new(operation: &'static str, max_pages: usize) -> Self {
        Self {
            operation,
            max_pages,
            pages: 0,
            seen: HashSet::new(),
        }
    }

    /// Takes the `NextToken` of the page just read: `None` at the end of the
    /// listing, else the token to ask the next page with. An empty token is
    /// the end too. A token already given, or a page past `max_pages`, is an
    /// invalid answer.
    pub fn next_token(&mut self, token: Option<&str>) -> Result<Option<String>, SourceError> {
        self.pages = self.pages.saturating_add(1);
        let Some(token) = token.filter(|token| !token.is_empty()) else {
            return Ok(None);
        };
        if self.pages >= self.max_pages {
            return Err(SourceError::invalid_response(format!(
                "{} still had a NextToken after {} pages, more than the service can hold",
                self.operation, self.pages
            )));
        }
        if !self.seen.insert(token.to_owned()) {
            return Err(SourceError::invalid_response(format!(
                "{} repeated a NextToken after {} pages: the listing goes round",
                self.operation, self.pages
            )));
        }
        Ok(Some(token.to_owned()))
    }

    /// Pages read so far.
    pub fn read(&self) -> usize {
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ErrorReason;

    #[test]
    fn a_listing_ends_on_no_token_or_an_empty_one() {
        let mut pages = Pages::new("ListSecrets", 10);
        assert_eq!(pages.next_token(Some("a")), Ok(Some("a".to_owned())));
        assert_eq!(pages.next_token(Some("")), Ok(None));
        let mut pages = Pages::new("ListSecrets", 10);
        assert_eq!(pages.next_token(None), Ok(None));
        assert_eq!(pages.read(), 1);
    }

    #[test]
    fn a_token_given_twice_is_an_invalid_answer_even_after_others() {
        let mut pages = Pages::new("ListSecrets", 10);
        assert!(pages.next_token(Some("a")).is_ok());
        assert!(pages.next_token(Some("b")).is_ok());
        let err = pages.next_token(Some("a")).err();
        assert_eq!(err.map(|e| e.reason), Some(ErrorReason::InvalidResponse));
    }

    #[test]
    fn a_listing_past_its_page_cap_is_an_invalid_answer() {
        let mut pages = Pages::new("ListSecrets", 3);
        assert!(pages.next_token(Some("1")).is_ok());
        assert!(pages.next_token(Some("2")).is_ok());
        let err = pages.next_token(Some("3")).err();
        assert_eq!(err.map(|e| e.reason), Some(ErrorReason::InvalidResponse));
        // The last page allowed may still end the listing.
        let mut pages = Pages::new("ListSecrets", 3);
        assert!(pages.next_token(Some("1")).is_ok());
        assert!(pages.next_token(Some("2")).is_ok());
        assert_eq!(pages.next_token(None), Ok(None));
    }
}
