//! What RDS (awsQuery) and EC2 (the EC2 query protocol) share: form-encoded requests with
//! `Action`, `Version` and indexed lists, the gate every request passes (count, credentials,
//! quota, fault) and the faults that shape a listing.

use crate::caller::Caller;
use crate::state::{Fault, Refusal, Shared, UNKNOWN_ACCOUNT};
use crate::token;

/// The parameters of a form-encoded request, in the order sent.
pub(crate) struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// An undecodable body has no parameters, so it is answered as a request without `Action`.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            params: serde_urlencoded::from_bytes(body).unwrap_or_default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The members of a list sent as `Name.1`, `Name.2`..., in index order.
    pub fn list(&self, name: &str) -> Vec<String> {
        let mut members: Vec<(u32, String)> = self
            .params
            .iter()
            .filter_map(|(key, value)| {
                let index = key.strip_prefix(name)?.strip_prefix('.')?.parse().ok()?;
                Some((index, value.clone()))
            })
            .collect();
        members.sort_by_key(|(index, _)| *index);
        members.into_iter().map(|(_, value)| value).collect()
    }

    /// EC2's `Filter.N.Name` with its `Filter.N.Value.M`, in index order.
    pub fn filters(&self) -> Vec<(String, Vec<String>)> {
        let mut indexes: Vec<u32> = self
            .params
            .iter()
            .filter_map(|(key, _)| {
                let rest = key.strip_prefix("Filter.")?;
                rest.split_once('.')?.0.parse().ok()
            })
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
            .into_iter()
            .map(|index| {
                let name = self
                    .get(&format!("Filter.{index}.Name"))
                    .unwrap_or_default()
                    .to_string();
                (name, self.list(&format!("Filter.{index}.Value")))
            })
            .collect()
    }
}

/// Why the gate stopped a request; each service answers it in its own error shape.
pub(crate) enum Stop {
    UnknownKey,
    ExpiredKey,
    Throttled,
    Denied,
    Internal,
}

/// Counts the request under `service` and the caller's account, then checks its credentials,
/// its quota and the fault rules. A delay is waited out here; an answer-shaping fault comes back
/// for [`shape`] and [`cut`].
pub(crate) async fn gate(
    shared: &Shared,
    service: &str,
    action: &str,
    caller: Option<&Caller>,
    refusal: Option<Refusal>,
) -> Result<Option<Fault>, Stop> {
    let account = caller.map_or(UNKNOWN_ACCOUNT, |c| c.account.as_str());
    shared.count(service, action, account);
    let Some(caller) = caller else {
        return Err(match refusal {
            Some(Refusal::Expired) => Stop::ExpiredKey,
            _ => Stop::UnknownKey,
        });
    };
    if !shared.admit(action, &caller.account, &caller.region).await {
        return Err(Stop::Throttled);
    }
    match shared.take_fault(service, action, &caller.account, &caller.region) {
        Some(Fault::Delay(duration)) => {
            tokio::time::sleep(duration).await;
            Ok(None)
        }
        Some(Fault::Throttling) => Err(Stop::Throttled),
        Some(Fault::AccessDenied) => Err(Stop::Denied),
        Some(Fault::InternalError) => Err(Stop::Internal),
        other => Ok(other),
    }
}

/// One page of a listing: each entry's XML and the token of the next page.
pub(crate) struct Page {
    pub entries: Vec<String>,
    pub next: Option<String>,
}

/// Takes at most `size` of the `(key, entry)` pairs (in key order) from the key `start` on; the
/// next page's token, tagged with `tag`, starts at the first key left out.
pub(crate) fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    start: Option<&str>,
    size: usize,
    tag: &str,
    render: impl Fn(&T) -> String,
) -> Page {
    let mut rest = items
        .into_iter()
        .filter(|(key, _)| start.is_none_or(|start| key.as_str() >= start));
    let entries = rest
        .by_ref()
        .take(size)
        .map(|(_, item)| render(&item))
        .collect();
    let next = rest
        .next()
        .map(|(key, _)| token::encode(&format!("{tag}|{key}")));
    Page { entries, next }
}

/// The key a token made by [`page`] with `tag` starts at; `None` when it is not such a token.
pub(crate) fn token_start(token: &str, tag: &str) -> Option<String> {
    let text = token::decode(token)?;
    let key = text.strip_prefix(tag)?.strip_prefix('|')?;
    (!key.is_empty()).then(|| key.to_string())
}

/// Applies a listing-shaping fault: the token asked with handed back, a token one character
/// longer, or the first entry repeated at the end.
pub(crate) fn shape(page: &mut Page, fault: Option<Fault>, asked: Option<&str>) {
    match fault {
        Some(Fault::RepeatNextToken) => {
            if let Some(asked) = asked {
                page.next = Some(asked.to_string());
            }
        }
        Some(Fault::EndlessNextToken) => {
            if let Some(text) = asked.and_then(token::decode) {
                page.next = Some(token::encode(&format!("{text}~")));
            }
        }
        Some(Fault::DuplicateEntry) => {
            if let Some(first) = page.entries.first().cloned() {
                page.entries.push(first);
            }
        }
        _ => {}
    }
}

/// The body as `Fault::MalformedBody` leaves it: cut off halfway, not XML.
pub(crate) fn cut(body: String, fault: Option<Fault>) -> String {
    if fault != Some(Fault::MalformedBody) {
        return body;
    }
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body[..cut].to_string()
}

/// `<Tag>text</Tag>`, escaped.
pub(crate) fn element(tag: &str, text: &str) -> String {
    format!("<{tag}>{}</{tag}>", crate::sts::escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_filters_are_read_in_index_order() {
        let form = Form::parse(
            b"Action=DescribeVpcs&VpcId.2=vpc-b&VpcId.1=vpc-a&Filter.2.Name=is-default\
              &Filter.2.Value.1=true&Filter.1.Name=owner-id&Filter.1.Value.2=2&Filter.1.Value.1=1",
        );
        assert_eq!(form.get("Action"), Some("DescribeVpcs"));
        assert_eq!(form.list("VpcId"), ["vpc-a", "vpc-b"]);
        assert_eq!(
            form.filters(),
            [
                (
                    "owner-id".to_string(),
                    vec!["1".to_string(), "2".to_string()]
                ),
                ("is-default".to_string(), vec!["true".to_string()]),
            ]
        );
    }

    #[test]
    fn pages_hand_over_at_the_first_key_left_out() {
        let items = ["a", "b", "c"].map(|k| (k.to_string(), k.to_string()));
        let first = page(items.clone(), None, 2, "t", Clone::clone);
        assert_eq!(first.entries, ["a", "b"]);
        let token = first.next.unwrap_or_default();
        let start = token_start(&token, "t");
        assert_eq!(start.as_deref(), Some("c"));
        let second = page(items, start.as_deref(), 2, "t", Clone::clone);
        assert_eq!((second.entries, second.next), (vec!["c".to_string()], None));
        assert_eq!(token_start(&token, "other"), None);
        assert_eq!(token_start("zz", "t"), None);
    }
}
